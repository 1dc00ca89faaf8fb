"""Enterprise applications through the SDK: the gallery (`applicationTemplates`, filtered by display name), the
Databricks connector instantiated, its service principal read and patched ("Assignment required?"), and who is
assigned to it (`appRoleAssignedTo`: a user and a security group; listed, paged, deleted), seen from the user and
the group too (`appRoleAssignments`)."""

from uuid import UUID

from helpers import (
    DATABRICKS_APP_TEMPLATE,
    DEFAULT_ACCESS,
    ids,
    instantiate_databricks,
    new_group,
    new_user,
    odata_error,
    uid,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.application_templates.application_templates_request_builder import (
    ApplicationTemplatesRequestBuilder,
)
from msgraph.generated.models.app_role_assignment import AppRoleAssignment
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.service_principals.item.app_role_assigned_to.app_role_assigned_to_request_builder import (
    AppRoleAssignedToRequestBuilder,
)
from msgraph_core.tasks.page_iterator import PageIterator


def assignment(principal_id: str, sp_id: str) -> AppRoleAssignment:
    return AppRoleAssignment(principal_id=UUID(principal_id), resource_id=UUID(sp_id), app_role_id=DEFAULT_ACCESS)


async def test_the_gallery_is_filtered_by_display_name(graph):
    name = "Azure Databricks SCIM Provisioning Connector"
    query = ApplicationTemplatesRequestBuilder.ApplicationTemplatesRequestBuilderGetQueryParameters(
        filter=f"displayName eq '{name}'")
    found = await graph.application_templates.get(RequestConfiguration(query_parameters=query))
    assert [(t.id, t.display_name) for t in found.value] == [(DATABRICKS_APP_TEMPLATE, name)]
    assert "sync" in found.value[0].supported_provisioning_types
    everything = await graph.application_templates.get()
    assert len(everything.value) > 1
    one = await graph.application_templates.by_application_template_id(DATABRICKS_APP_TEMPLATE).get()
    assert one.display_name == name
    await odata_error(graph.application_templates.by_application_template_id("nope").get(), 404,
                      "Request_ResourceNotFound")


async def test_the_databricks_connector_is_instantiated_and_its_service_principal_patched(graph):
    name = f"Databricks {uid()}"
    made = await instantiate_databricks(graph, name)
    app, sp = made.application, made.service_principal
    assert (app.display_name, app.app_id) == (name, sp.app_id)
    assert sp.application_template_id == DATABRICKS_APP_TEMPLATE
    assert app.id and sp.id and app.id != sp.id

    read = await graph.service_principals.by_service_principal_id(sp.id).get()
    assert (read.display_name, read.app_id, read.app_role_assignment_required) == (name, app.app_id, True)
    assert (await graph.applications.by_application_id(app.id).get()).display_name == name

    # Databricks recommends "Assignment required? No".
    await graph.service_principals.by_service_principal_id(sp.id).patch(
        ServicePrincipal(app_role_assignment_required=False, notes="provisioned by idplane"))
    read = await graph.service_principals.by_service_principal_id(sp.id).get()
    assert (read.app_role_assignment_required, read.notes) == (False, "provisioned by idplane")


async def test_users_and_security_groups_are_assigned_listed_and_unassigned(graph, graph_base):
    sp = (await instantiate_databricks(graph, f"Databricks {uid()}")).service_principal
    assigned_to = graph.service_principals.by_service_principal_id(sp.id).app_role_assigned_to
    ann = await new_user(graph, "ann")
    sales = await new_group(graph, graph_base, "sales", members=[ann.id])
    team = await new_group(graph, graph_base, "team", security=False)

    to_ann = await assigned_to.post(assignment(ann.id, sp.id))
    assert (to_ann.principal_type, to_ann.principal_display_name) == ("User", ann.display_name)
    assert (str(to_ann.resource_id), to_ann.resource_display_name, to_ann.app_role_id) == (
        sp.id, sp.display_name, DEFAULT_ACCESS)
    assert to_ann.id and to_ann.created_date_time is not None
    to_sales = await assigned_to.post(assignment(sales.id, sp.id))
    assert to_sales.principal_type == "Group"
    await odata_error(assigned_to.post(assignment(ann.id, sp.id)), 400, "Request_BadRequest")
    await odata_error(assigned_to.post(assignment(team.id, sp.id)), 400, "Request_BadRequest", "security")

    listed = await assigned_to.get()
    assert sorted(ids(listed.value)) == sorted([to_ann.id, to_sales.id])
    # Page by page, through PageIterator.
    query = AppRoleAssignedToRequestBuilder.AppRoleAssignedToRequestBuilderGetQueryParameters(top=1)
    first = await assigned_to.get(RequestConfiguration(query_parameters=query))
    assert len(first.value) == 1 and first.odata_next_link
    paged = []
    await PageIterator(first, graph.request_adapter).iterate(lambda a: paged.append(a.id) or True)
    assert sorted(paged) == sorted([to_ann.id, to_sales.id])

    of_ann = await graph.users.by_user_id(ann.id).app_role_assignments.get()
    assert [(a.id, str(a.resource_id)) for a in of_ann.value] == [(to_ann.id, sp.id)]
    of_sales = await graph.groups.by_group_id(sales.id).app_role_assignments.get()
    assert [(a.id, str(a.principal_id)) for a in of_sales.value] == [(to_sales.id, sales.id)]

    await assigned_to.by_app_role_assignment_id(to_ann.id).delete()
    assert ids((await assigned_to.get()).value) == [to_sales.id]
    assert (await graph.users.by_user_id(ann.id).app_role_assignments.get()).value == []
    await odata_error(assigned_to.by_app_role_assignment_id(to_ann.id).delete(), 404, "Request_ResourceNotFound")
