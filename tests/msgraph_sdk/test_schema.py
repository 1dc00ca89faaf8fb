"""A job's schema through the SDK: read, edited (a scoping filter, an expression mapping), written back with the
SDK's PATCH (which drops `flowTypes` on the way), and read back; invalid schemas refused with what is wrong; the
expression language's `parseExpression` on Microsoft's documented examples, `functions` and `filterOperators`."""

from typing import List, Optional

from helpers import databricks_job, odata_error
from msgraph.generated.models.attribute_mapping import AttributeMapping
from msgraph.generated.models.attribute_mapping_source import AttributeMappingSource
from msgraph.generated.models.attribute_mapping_source_type import AttributeMappingSourceType
from msgraph.generated.models.expression_input_object import ExpressionInputObject
from msgraph.generated.models.filter import Filter
from msgraph.generated.models.filter_clause import FilterClause
from msgraph.generated.models.filter_group import FilterGroup
from msgraph.generated.models.filter_operand import FilterOperand
from msgraph.generated.models.object_flow_types import ObjectFlowTypes
from msgraph.generated.models.object_mapping import ObjectMapping
from msgraph.generated.models.parse_expression_response import ParseExpressionResponse
from msgraph.generated.models.scope_operator_type import ScopeOperatorType
from msgraph.generated.models.string_key_object_value_pair import StringKeyObjectValuePair
from msgraph.generated.models.synchronization_schema import SynchronizationSchema
from msgraph.generated.service_principals.item.synchronization.jobs.item.schema.parse_expression.parse_expression_post_request_body import (  # noqa: E501
    ParseExpressionPostRequestBody,
)


async def schema_builder(graph):
    sp, job = await databricks_job(graph)
    return graph.service_principals.by_service_principal_id(sp.id).synchronization.jobs.by_synchronization_job_id(
        job.id).schema, job


def users_mapping(schema: SynchronizationSchema) -> ObjectMapping:
    mappings = [m for r in schema.synchronization_rules for m in r.object_mappings if m.source_object_name == "User"]
    assert len(mappings) == 1, mappings
    return mappings[0]


def mapping_to(object_mapping: ObjectMapping, target: str) -> AttributeMapping:
    found = [a for a in object_mapping.attribute_mappings if a.target_attribute_name == target]
    assert len(found) == 1, (target, [a.target_attribute_name for a in object_mapping.attribute_mappings])
    return found[0]


def attribute(name: str) -> AttributeMappingSource:
    return AttributeMappingSource(type=AttributeMappingSourceType.Attribute, name=name, expression=f"[{name}]")


async def test_a_schema_is_edited_and_written_back_with_the_sdks_patch(graph):
    schema_of, job = await schema_builder(graph)
    schema = await schema_of.get()
    assert schema.id == job.id and schema.version == "1"
    users = users_mapping(schema)
    assert users.flow_types == [ObjectFlowTypes.Add, ObjectFlowTypes.Update, ObjectFlowTypes.Delete]

    users.scope = Filter(groups=[FilterGroup(name="Sales in US", clauses=[
        FilterClause(operator_name="EQUALS", source_operand_name="department",
                     target_operand=FilterOperand(values=["Sales"])),
        FilterClause(operator_name="IS_TRUE", source_operand_name="accountEnabled",
                     target_operand=FilterOperand(values=[])),
    ])])
    mapping_to(users, "displayName").source = AttributeMappingSource(
        type=AttributeMappingSourceType.Function, expression='Join(" ", [givenName], [surname])')
    # The SDK reads flowTypes ("Add, Update, Delete") as a list and writes a list as nothing: the PATCH goes out
    # without it, and the server keeps the template's.
    await schema_of.patch(schema)

    read = await schema_of.get()
    assert read.version == "2"
    users = users_mapping(read)
    assert users.flow_types == [ObjectFlowTypes.Add, ObjectFlowTypes.Update, ObjectFlowTypes.Delete]
    clauses = [(c.operator_name, c.source_operand_name, c.target_operand.values) for c in users.scope.groups[0].clauses]
    assert clauses == [("EQUALS", "department", ["Sales"]), ("IS_TRUE", "accountEnabled", [])]
    display = mapping_to(users, "displayName").source
    # Stored as Graph's tree of the expression: the function, its parameters by name, each an attribute or constant.
    assert (display.type, display.name, display.expression) == (
        AttributeMappingSourceType.Function, "Join", 'Join(" ", [givenName], [surname])')
    assert [(p.key, p.value.type, p.value.name) for p in display.parameters] == [
        ("separator", AttributeMappingSourceType.Constant, " "),
        ("source", AttributeMappingSourceType.Attribute, "givenName"),
        ("source", AttributeMappingSourceType.Attribute, "surname"),
    ]


async def test_an_invalid_schema_is_refused_with_every_problem_named(graph):
    schema_of, _ = await schema_builder(graph)
    schema = await schema_of.get()
    users = users_mapping(schema)
    users.attribute_mappings.append(AttributeMapping(target_attribute_name="id", source=attribute("objectId")))
    users.attribute_mappings.append(AttributeMapping(target_attribute_name="nickName", source=attribute("nope")))
    e = await odata_error(schema_of.patch(schema), 400, "Request_BadRequest", "'id'", "nope")
    assert "nickName" in e.error.message
    assert (await schema_of.get()).version == "1", "nothing was written"

    schema = await schema_of.get()
    users_mapping(schema).scope = Filter(groups=[FilterGroup(name="bad", clauses=[
        FilterClause(operator_name="SOUNDS_LIKE", source_operand_name="department",
                     target_operand=FilterOperand(values=["x"]))])])
    await odata_error(schema_of.patch(schema), 400, "Request_BadRequest", "SOUNDS_LIKE")


def input_object(**properties) -> ExpressionInputObject:
    """Graph's `expressionInputObject`: a string or, with its `@odata.type`, a collection of strings per key."""
    pairs = []
    for key, value in properties.items():
        data = {"value": value}
        if isinstance(value, list):
            data["value@odata.type"] = "#Collection(String)"
        pairs.append(StringKeyObjectValuePair(key=key, additional_data=data))
    return ExpressionInputObject(properties=pairs)


async def parse(schema_of, expression: str, test: Optional[ExpressionInputObject] = None) -> ParseExpressionResponse:
    return await schema_of.parse_expression.post(
        ParseExpressionPostRequestBody(expression=expression, test_input_object=test))


def keys(source: AttributeMappingSource) -> List[str]:
    return [p.key for p in source.parameters or []]


async def test_parse_expression_on_microsofts_examples(graph):
    schema_of, _ = await schema_builder(graph)

    # Graph's own parseExpression sample: empty argument slots are left out of the tree.
    replace = await parse(schema_of, 'Replace([preferredLanguage], "-", , , "_", ,  )', input_object(
        objectId="66E4A8CC-1B7B-435E-95F8-F06CEA133828", IsSoftDeleted="false", preferredLanguage="EN-US",
        appRoleAssignments=["Default Assignment"]))
    assert (replace.parsing_succeeded, replace.evaluation_succeeded, replace.evaluation_result) == (
        True, True, ["EN_US"])
    assert (replace.parsed_expression.name, keys(replace.parsed_expression)) == (
        "Replace", ["source", "Find", "Replacement"])
    assert replace.parsed_expression.parameters[1].value.type == AttributeMappingSourceType.Constant

    # "Add a comma between last name and first name".
    join = await parse(schema_of, 'Join(", ", "", [surname], [givenName])', input_object(
        givenName="John", surname="Doe"))
    assert (join.evaluation_result, join.parsed_expression.name) == (["Doe, John"], "Join")

    # Switch, as the functions reference shows it, and as the default SCIM mapping writes `active`.
    zone = 'Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney","QLD", "Australia/Brisbane", "SA", ' \
           '"Australia/Adelaide")'
    assert (await parse(schema_of, zone, input_object(state="QLD"))).evaluation_result == ["Australia/Brisbane"]
    active = await parse(schema_of, 'Switch([IsSoftDeleted], , "False", "True", "True", "False")',
                         input_object(IsSoftDeleted="false"))
    assert active.evaluation_result == ["True"]
    assert keys(active.parsed_expression)[0] == "source"

    # Without a test object: parsed, not evaluated.
    only_parsed = await parse(schema_of, "ToLower([mail])")
    assert (only_parsed.parsing_succeeded, only_parsed.evaluation_succeeded) == (True, False)

    broken = await parse(schema_of, 'Join(" ", [givenName]')
    assert (broken.parsing_succeeded, broken.parsed_expression) == (False, None)
    assert broken.error is not None and broken.error.message


async def test_functions_and_filter_operators_are_listed(graph):
    schema_of, _ = await schema_builder(graph)
    functions = (await schema_of.functions.get()).value
    # The SDK's attributeMappingFunctionSchema has no `name` property (Graph's documented response has one): it
    # lands in additional_data.
    by_name = {f.additional_data.get("name"): f for f in functions}
    assert {"Append", "Join", "Replace", "Switch", "SingleAppRoleAssignment"} <= set(by_name)
    append = [(p.name, p.required, p.allow_multiple_occurrences) for p in by_name["Append"].parameters]
    assert append == [("source", True, False), ("suffix", True, False)]
    assert [p.allow_multiple_occurrences for p in by_name["Join"].parameters][-1] is True

    operators = {o.id or o.additional_data.get("name"): o for o in (await schema_of.filter_operators.get()).value}
    assert {"EQUALS", "NOT_EQUALS", "IS_TRUE", "REGEX_MATCH"} <= set(operators)
    assert operators["EQUALS"].arity == ScopeOperatorType.Binary
    assert operators["IS_TRUE"].arity == ScopeOperatorType.Unary
