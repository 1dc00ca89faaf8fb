"""Provisioning → Mappings: object mappings enabled or not, the Attribute Mapping page, the Edit Attribute dialog
(an expression checked as it is typed, and tried on a sample user), scoping filters, and restoring the defaults.
The application and its job are made through Graph (urllib), as the other areas' pages are not on this branch."""

import json
import re
import urllib.request
import uuid

import pytest

from conftest import shot
from flow_mappings import add_scoping_filter, check_expression, edit_mapping_expression, mappings_url, \
    open_object_mapping

DATABRICKS_APP_TEMPLATE = "9c9818d2-2900-49e8-8ba4-22688be7c675"


def graph(server, method: str, path: str, body=None):
    request = urllib.request.Request(
        server.origin + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        text = answer.read()
        return json.loads(text) if text else None


def new_app(server, job: bool = True) -> str:
    """A Databricks connector from the gallery (and its provisioning job): the service principal's id."""
    made = graph(server, "POST", f"/v1.0/applicationTemplates/{DATABRICKS_APP_TEMPLATE}/instantiate",
                 {"displayName": f"Databricks {uuid.uuid4().hex[:8]}"})
    sp = made["servicePrincipal"]["id"]
    if job:
        graph(server, "POST", f"/v1.0/servicePrincipals/{sp}/synchronization/jobs", {"templateId": "dataBricks"})
    return sp


def new_user(server, given: str, surname: str) -> str:
    upn = f"{given.lower()}-{uuid.uuid4().hex[:8]}@contoso.com"
    graph(server, "POST", "/v1.0/users", {
        "accountEnabled": True, "displayName": f"{given} {surname}", "givenName": given, "surname": surname,
        "mailNickname": upn.split("@")[0], "userPrincipalName": upn,
        "passwordProfile": {"password": "xWwvJ]6NMw+bWH-d"}})
    return upn


def schema(server, sp: str) -> dict:
    job = graph(server, "GET", f"/v1.0/servicePrincipals/{sp}/synchronization/jobs")["value"][0]["id"]
    return graph(server, "GET", f"/v1.0/servicePrincipals/{sp}/synchronization/jobs/{job}/schema")


def object_mapping(server, sp: str, source: str = "User") -> dict:
    rules = schema(server, sp)["synchronizationRules"]
    return next(m for r in rules for m in r["objectMappings"] if m["sourceObjectName"] == source)


def attribute(server, sp: str, target: str) -> dict:
    return next(a for a in object_mapping(server, sp)["attributeMappings"] if a["targetAttributeName"] == target)


@pytest.fixture
def accept_confirms(signed_in):
    """Answers "OK" to the pages' confirmations (Restore default mappings, Delete)."""
    signed_in.on("dialog", lambda d: d.accept())
    return signed_in


def test_mappings_lists_the_object_mappings_and_saves_enabled(signed_in, server):
    sp = new_app(server)
    page = signed_in
    page.goto(mappings_url(sp))
    shot(page, "mappings-list")
    assert page.get_by_role("heading", name="Mappings").is_visible()
    assert page.get_by_role("link", name="Provision Microsoft Entra ID Users").is_visible()
    groups = page.get_by_label("Enabled (Provision Microsoft Entra ID Groups)")
    assert groups.input_value() == "Yes"
    groups.select_option("No")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert "Saved" in page.get_by_role("status").inner_text()
    assert page.get_by_label("Enabled (Provision Microsoft Entra ID Groups)").input_value() == "No"
    assert object_mapping(server, sp, "Group")["enabled"] is False
    assert object_mapping(server, sp, "User")["enabled"] is True


def test_an_application_without_a_job_says_where_to_set_it_up(signed_in, server):
    sp = new_app(server, job=False)
    signed_in.goto(mappings_url(sp))
    shot(signed_in, "mappings-no-job")
    assert "no provisioning job yet" in signed_in.locator("main").inner_text()
    link = signed_in.locator(".empty").get_by_role("link", name="Edit provisioning")
    assert link.get_attribute("href") == f"/console/apps/{sp}/provisioning/edit"


def test_the_attribute_mapping_page_shows_every_mapping_and_saves_target_object_actions(signed_in, server):
    sp = new_app(server)
    page = signed_in
    open_object_mapping(page, sp)
    shot(page, "mappings-attribute-mapping")
    assert page.get_by_role("heading", name="Attribute Mapping", exact=True).is_visible()
    table = page.locator("table.mappings-table")
    user_name = table.get_by_role("row").filter(has_text="userName")
    assert "[userPrincipalName]" in user_name.inner_text() and "Direct" in user_name.inner_text()
    assert re.search(r"\b1\b", user_name.get_by_role("cell").nth(4).inner_text()), "matching precedence 1"
    assert "Only during object creation" in table.get_by_role("row").filter(has_text="emails").inner_text()
    assert page.get_by_role("link", name="All records").is_visible()
    delete = page.get_by_role("checkbox", name="Delete")
    assert delete.is_checked()
    delete.uncheck()
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_load_state()
    assert "Saved" in page.get_by_role("status").inner_text()
    assert not page.get_by_role("checkbox", name="Delete").is_checked()
    assert object_mapping(server, sp)["flowTypes"] == "Add, Update"


def test_an_expression_is_checked_as_it_is_typed_tried_on_a_sample_user_and_saved(signed_in, server):
    sp = new_app(server)
    upn = new_user(server, "Ada", "Lovelace")
    page = signed_in
    open_object_mapping(page, sp)
    page.get_by_role("link", name="Edit displayName", exact=True).click()
    dialog = page.get_by_role("dialog")
    assert dialog.get_by_role("heading", name="Edit Attribute: displayName").is_visible()
    dialog.get_by_label("Mapping type").select_option("Expression")
    assert page.locator("#mappings-samples option").count() >= 1, "users of the directory are offered as samples"
    dialog.get_by_label("Sample user").fill(upn)
    invalid = check_expression(page, dialog, 'Join(" ", [givenName], [surname]')
    shot(page, "mappings-expression-invalid")
    assert invalid.startswith("Invalid"), invalid
    assert "at character" in invalid and "^" in invalid, invalid
    valid = check_expression(page, dialog, 'Join(" ", [givenName], [surname])')
    shot(page, "mappings-expression-valid")
    assert valid.startswith("Valid."), valid
    dialog.get_by_text("Functions").click()
    assert dialog.get_by_text("Join(separator, source…)").is_visible()
    assert "Join(…) (function)" in valid and "[givenName] (attribute)" in valid
    assert f"Result on {upn}: Ada Lovelace" in valid, valid
    dialog.get_by_role("button", name="Ok").click()
    page.wait_for_load_state()
    assert "Saved the mapping of displayName" in page.get_by_role("status").inner_text()
    row = page.locator("table.mappings-table").get_by_role("row").filter(has_text="Join(")
    assert "Expression" in row.inner_text()
    shot(page, "mappings-expression-saved")
    saved = attribute(server, sp, "displayName")["source"]
    assert saved["type"] == "Function" and saved["name"] == "Join", saved
    assert saved["expression"] == 'Join(" ", [givenName], [surname])'
    # Reloaded, the dialog shows the expression saved.
    page.reload()
    page.get_by_role("link", name="Edit displayName", exact=True).click()
    assert page.get_by_role("dialog").get_by_label("Expression", exact=True).input_value() == saved["expression"]


def test_the_flow_step_edits_an_expression(signed_in, server):
    sp = new_app(server)
    upn = new_user(server, "Grace", "Hopper")
    text = edit_mapping_expression(signed_in, sp, "displayName", 'Append([givenName], "!")', sample=upn)
    assert "Result on" in text and "Grace!" in text, text
    assert attribute(server, sp, "displayName")["source"]["expression"] == 'Append([givenName], "!")'


def test_a_mapping_that_cannot_be_saved_says_what_to_fix_and_keeps_the_input(signed_in, server):
    sp = new_app(server)
    page = signed_in
    open_object_mapping(page, sp)
    page.get_by_role("link", name="Add New Mapping").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Mapping type").select_option("None")
    dialog.get_by_label("Target attribute").select_option("name.givenName")
    dialog.get_by_label("Match objects using this attribute").select_option("Yes")
    dialog.get_by_role("button", name="Ok").click()
    page.wait_for_load_state()
    shot(page, "mappings-attribute-errors")
    assert page.get_by_role("heading", name="Add New Mapping").is_visible()
    text = page.locator("main").inner_text()
    assert "default value" in text and "Matching precedence is a whole number" in text, text
    assert page.get_by_label("Target attribute").input_value() == "name.givenName"
    # Fixed on the same page, it is saved.
    page.get_by_label("Default value if null").fill("Unknown")
    page.get_by_label("Match objects using this attribute").select_option("No")
    page.get_by_role("button", name="Ok").click()
    page.wait_for_load_state()
    assert "Saved the mapping of name.givenName" in page.get_by_role("status").inner_text()
    added = attribute(server, sp, "name.givenName")
    assert added["source"] is None and added["defaultValue"] == "Unknown"


def test_a_mapping_is_deleted_and_the_defaults_restored(accept_confirms, server):
    sp = new_app(server)
    page = accept_confirms
    open_object_mapping(page, sp)
    page.get_by_role("button", name="Delete externalId").click()
    page.wait_for_load_state()
    assert "Deleted the mapping of externalId" in page.get_by_role("status").inner_text()
    assert not any(a["targetAttributeName"] == "externalId" for a in object_mapping(server, sp)["attributeMappings"])
    page.get_by_role("button", name="Restore default mappings").click()
    page.wait_for_load_state()
    shot(page, "mappings-restored")
    assert "default mappings are restored" in page.get_by_role("status").inner_text()
    assert attribute(server, sp, "externalId")["source"]["name"] == "objectId"
    assert page.get_by_role("link", name="Edit externalId", exact=True).is_visible()


def test_a_scoping_filter_is_added_extended_and_deleted(accept_confirms, server):
    sp = new_app(server)
    page = accept_confirms
    add_scoping_filter(page, sp, "department", "EQUALS", "Sales", title="Sales only")
    assert "Added the scoping filter Sales only" in page.get_by_role("status").inner_text()
    filter_card = page.get_by_role("region", name="Sales only")
    assert "department" in filter_card.inner_text() and "EQUALS" in filter_card.inner_text()
    scope = object_mapping(server, sp)["scope"]
    assert scope["groups"] == [{"name": "Sales only", "clauses": [
        {"operatorName": "EQUALS", "sourceOperandName": "department", "targetOperand": {"values": ["Sales"]}}]}]
    # A second clause (AND), of an operator without a value.
    filter_card.get_by_text("Add a clause (AND)").click()
    filter_card.get_by_label("Source attribute").select_option("mail")
    filter_card.get_by_label("Operator").select_option(label="IS NOT NULL")
    filter_card.get_by_role("button", name="Add clause").click()
    page.wait_for_load_state()
    shot(page, "mappings-scoping-filters")
    clauses = object_mapping(server, sp)["scope"]["groups"][0]["clauses"]
    assert [c["operatorName"] for c in clauses] == ["EQUALS", "IS_NOT_NULL"]
    # The attribute mapping page says the scope is filtered.
    open_object_mapping(page, sp)
    assert page.get_by_role("link", name="1 scoping filter").is_visible()
    page.get_by_role("link", name="1 scoping filter").click()
    page.get_by_role("button", name="Delete clause mail IS NOT NULL").click()
    page.wait_for_load_state()
    assert len(object_mapping(server, sp)["scope"]["groups"][0]["clauses"]) == 1
    page.get_by_role("button", name="Delete scoping filter Sales only").click()
    page.wait_for_load_state()
    assert object_mapping(server, sp)["scope"] is None
    assert "No scoping filters" in page.locator("main").inner_text()


def test_a_clause_without_its_value_says_so(signed_in, server):
    sp = new_app(server)
    add_scoping_filter(signed_in, sp, "department", "EQUALS", "", title="Nothing")
    shot(signed_in, "mappings-scoping-error")
    assert "EQUALS compares with a value" in signed_in.get_by_role("alert").inner_text()
    assert signed_in.get_by_label("Scoping filter title").input_value() == "Nothing"
    assert object_mapping(server, sp)["scope"] is None


def test_a_change_on_a_stale_page_is_refused(signed_in, server, context):
    sp = new_app(server)
    page = signed_in
    open_object_mapping(page, sp)
    other = context.new_page()
    open_object_mapping(other, sp)
    other.get_by_role("checkbox", name="Update").uncheck()
    other.get_by_role("button", name="Save", exact=True).click()
    other.wait_for_load_state()
    page.get_by_role("checkbox", name="Create").uncheck()
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_load_state()
    assert "changed" in page.get_by_role("alert").inner_text()
    shot(page, "mappings-stale-page")
    assert object_mapping(server, sp)["flowTypes"] == "Add, Delete"
    # The page shown again is the current one: the other tab's change is there, to change again.
    assert not page.get_by_role("checkbox", name="Update").is_checked()
    assert page.get_by_role("checkbox", name="Create").is_checked()


def test_the_pages_read_on_a_phone(signed_in, server):
    sp = new_app(server)
    page = signed_in
    page.set_viewport_size({"width": 390, "height": 844})
    open_object_mapping(page, sp)
    shot(page, "mappings-attribute-mapping-phone")
    page.get_by_role("link", name="Edit userName", exact=True).click()
    shot(page, "mappings-edit-attribute-phone")
    assert page.get_by_role("dialog").get_by_label("Target attribute").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways ({width}px)"
