"""Enterprise applications: the gallery, Properties, Users and groups, and Edit provisioning (Admin Credentials with
Test Connection against this very server's account SCIM API, Settings, Provisioning Status On and Off)."""

import json
import re
import secrets
import urllib.request

import pytest

from conftest import shot
from flow_apps import add_gallery_app, assign, open_provisioning_edit, provisioning_on, set_admin_credentials, \
    set_provisioning_status, test_connection

DATABRICKS = "Azure Databricks SCIM Provisioning Connector"


def graph(server, method: str, path: str, body=None) -> dict:
    request = urllib.request.Request(
        server.origin + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        text = answer.read()
        return json.loads(text) if text else {}


def new_user(server, name: str) -> dict:
    nick = re.sub(r"[^a-z0-9]", "", name.lower()) + secrets.token_hex(3)
    return graph(server, "POST", "/v1.0/users", {
        "accountEnabled": True, "displayName": name, "mailNickname": nick,
        "userPrincipalName": f"{nick}@idplane.test",
        "passwordProfile": {"password": "Pa55-" + secrets.token_hex(8), "forceChangePasswordNextSignIn": False},
    })


def new_group(server, name: str) -> dict:
    nick = re.sub(r"[^a-z0-9]", "", name.lower()) + secrets.token_hex(3)
    return graph(server, "POST", "/v1.0/groups", {
        "displayName": name, "mailNickname": nick, "mailEnabled": False, "securityEnabled": True,
    })


def tabs(page):
    return page.get_by_role("navigation", name="Application")


def scim_url(server) -> str:
    return f"{server.origin}/api/2.0/accounts/{server.account_id}/scim/v2"


def test_an_empty_list_says_what_to_do_and_the_gallery_adds_the_connector(signed_in):
    page = signed_in
    page.goto("/console/apps")
    shot(page, "apps-list")
    page.get_by_role("link", name="New application").first.click()
    assert page.get_by_role("heading", name="Browse Microsoft Entra Gallery").is_visible()
    for label in (DATABRICKS, "On-premises SCIM app", "Create your own application"):
        assert page.get_by_role("radio", name=label).count() == 1, label
    shot(page, "apps-gallery")
    # Create without a name: the page says what to fix and keeps the choice.
    page.get_by_role("radio", name=DATABRICKS).check()
    page.get_by_label("Name", exact=True).fill("   ")
    page.get_by_role("button", name="Create").click()
    assert "Give the application a name" in page.get_by_role("alert").inner_text()
    assert page.get_by_role("radio", name=DATABRICKS).is_checked()

    sp = add_gallery_app(page, DATABRICKS, "Databricks " + secrets.token_hex(3))
    assert page.get_by_role("heading", name="Getting Started").is_visible()
    assert DATABRICKS in page.locator("dl.facts").first.inner_text()
    assert page.get_by_role("link", name="Get started").is_visible()
    shot(page, "apps-overview")
    page.goto("/console/apps")
    assert page.locator(f'a[href="/console/apps/{sp}"]').count() == 1
    shot(page, "apps-list-one")


def test_search_finds_an_application_by_the_start_of_its_name(signed_in):
    page = signed_in
    name = "Findme " + secrets.token_hex(3)
    add_gallery_app(page, "Create your own application", name)
    page.goto("/console/apps")
    page.get_by_label("Search application").fill("findme")
    page.get_by_role("button", name="Search").click()
    assert page.get_by_role("link", name=name).is_visible()
    page.get_by_label("Search application").fill("nothing-starts-like-this")
    page.get_by_role("button", name="Search").click()
    assert "No application's name starts with" in page.locator(".empty").inner_text()
    shot(page, "apps-search-empty")


def test_properties_assignment_required_and_delete(signed_in):
    page = signed_in
    sp = add_gallery_app(page, DATABRICKS, "Props " + secrets.token_hex(3))
    tabs(page).get_by_role("link", name="Properties").click()
    page.get_by_role("radio", name="Yes").check()
    page.get_by_role("button", name="Save").click()
    assert page.get_by_role("status").inner_text() == "Saved."
    assert page.get_by_role("radio", name="Yes").is_checked()
    shot(page, "apps-properties")
    tabs(page).get_by_role("link", name="Overview").click()
    assert "Yes" in page.locator("dl.facts").first.inner_text()
    # The "Provisioning logs" tab goes to the provisioning logs page.
    assert tabs(page).get_by_role("link", name="Provisioning logs").get_attribute("href") == f"/console/apps/{sp}/logs"
    page.goto(f"/console/apps/{sp}/properties")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r"/console/apps\?notice="))
    assert "deleted" in page.get_by_role("status").inner_text()
    assert page.locator(f'a[href="/console/apps/{sp}"]').count() == 0


def test_assign_a_user_and_a_group_then_remove_one(signed_in, server):
    page = signed_in
    tag = secrets.token_hex(3)
    user = new_user(server, f"Ada {tag}")
    group = new_group(server, f"Analysts {tag}")
    sp = add_gallery_app(page, DATABRICKS, "Assign " + tag)
    tabs(page).get_by_role("link", name="Users and groups").click()
    assert "No users or groups are assigned yet" in page.locator(".empty").inner_text()
    shot(page, "apps-users-empty")
    page.get_by_role("link", name="Add user/group").first.click()
    page.get_by_label("Search users and groups").fill(f"Ada {tag}")
    page.get_by_role("button", name="Search").click()
    shot(page, "apps-users-add")
    assign(page, sp, user["displayName"])
    assign(page, sp, group["displayName"])
    rows = page.locator("tbody tr")
    assert rows.count() == 2
    text = page.locator("table").inner_text()
    assert "User" in text and "Group" in text and "Default Access" in text
    shot(page, "apps-users")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name=f"Remove {user['displayName']}").click()
    page.wait_for_url(re.compile(r"/users\?notice="))
    assert page.locator("tbody tr").count() == 1
    assert group["displayName"] in page.locator("table").inner_text()
    # Assigning the same group twice: the API's reason is shown.
    page.goto(f"/console/apps/{sp}/users/add?search=" + urllib.request.quote(group["displayName"]))
    page.get_by_role("radio", name=re.compile(re.escape(group["displayName"]))).check()
    page.get_by_role("button", name="Assign").click()
    assert page.get_by_role("alert").inner_text().strip() != ""
    shot(page, "apps-users-add-twice")


def test_provisioning_credentials_test_connection_settings_and_status(signed_in, server):
    page = signed_in
    sp = add_gallery_app(page, DATABRICKS, "Provision " + secrets.token_hex(3))
    open_provisioning_edit(page, sp)
    assert page.get_by_label("Provisioning Mode").input_value() == "Automatic"
    assert page.get_by_role("link", name="Mappings", exact=True).get_attribute("href") == f"/console/apps/{sp}/provisioning/mappings"
    assert "No secret token is saved yet" in page.locator("#secret_token-hint").inner_text()
    shot(page, "apps-provisioning-edit-new")

    # Turning provisioning on without credentials says what to do.
    page.get_by_role("radio", name="On", exact=True).check()
    page.get_by_role("button", name="Save", exact=True).click()
    assert "Admin Credentials" in page.get_by_role("alert").inner_text()

    # Test Connection with what is typed, before any save: success.
    open_provisioning_edit(page, sp)
    page.get_by_label("Tenant URL").fill(scim_url(server))
    page.get_by_label("Secret Token").fill(server.token)
    result = test_connection(page)
    assert "authorized to enable provisioning" in result
    assert page.get_by_label("Tenant URL").input_value() == scim_url(server)
    assert "not saved until you choose Save" in page.locator("#secret_token-hint").inner_text()
    shot(page, "apps-provisioning-test-ok")
    # As the seed documents go: Test Connection, then Save saves what was typed and tested.
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/provisioning/edit\?notice="))
    assert page.get_by_role("status").first.inner_text() == "Saved."
    assert page.get_by_label("Secret Token").input_value() == "", "the saved token is never echoed back"

    set_admin_credentials(page, sp, scim_url(server), server.token)
    assert page.get_by_role("status").first.inner_text() == "Saved."
    assert "A secret token is saved" in page.locator("#secret_token-hint").inner_text()
    mappings = page.locator("section", has=page.get_by_role("heading", name="Mappings")).inner_text()
    assert "Provision Microsoft Entra ID Users" in mappings and "Yes" in mappings
    assert server.token not in page.content()
    # The saved credentials test fine with the fields left as they are.
    assert "authorized" in test_connection(page)

    # A wrong token: the failure, its code and its reason.
    page.get_by_label("Secret Token").fill("dapi" + "0" * 64)
    failure = test_connection(page)
    assert "failed" in failure
    assert "Code" in failure
    assert "SystemForCrossDomainIdentityManagementCredentialValidationFailure" in failure
    assert "Request" in failure and "GET " + scim_url(server) + "/Users" in failure
    shot(page, "apps-provisioning-test-failed")

    # Settings: a bad threshold says what to fix and keeps the input; then a good save.
    open_provisioning_edit(page, sp)
    page.get_by_label("Notification Email").fill("ops@example.com")
    page.get_by_label("Send an email notification when a failure occurs").check()
    page.get_by_label("Prevent accidental deletion").check()
    page.get_by_label("Accidental deletion threshold").fill("")
    page.get_by_label("Scope").select_option(label="Sync all users and groups")
    page.get_by_role("button", name="Save", exact=True).click()
    assert "Give the accidental deletion threshold" in page.locator("#threshold-error").inner_text()
    assert page.get_by_label("Notification Email").input_value() == "ops@example.com"
    shot(page, "apps-provisioning-settings-error")
    page.get_by_label("Accidental deletion threshold").fill("25")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"\?notice="))
    assert page.get_by_label("Accidental deletion threshold").input_value() == "25"
    assert page.get_by_label("Send an email notification when a failure occurs").is_checked()
    assert page.get_by_label("Scope").input_value() == "all"
    page.get_by_label("Scope").select_option(label="Sync only assigned users and groups")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"\?notice="))

    # Provisioning Status On, then Off.
    assert "Provisioning is On" in provisioning_on(page, sp)
    assert page.get_by_role("radio", name="On", exact=True).is_checked()
    shot(page, "apps-provisioning-on")
    page.goto(f"/console/apps/{sp}")
    assert "On" in page.locator("dl.facts").nth(1).inner_text()
    assert "Provisioning is Off" in set_provisioning_status(page, sp, False)
    assert page.get_by_role("radio", name="Off", exact=True).is_checked()

    # Restart with Full and ForceDeletes.
    page.get_by_role("checkbox", name=re.compile(r"\bFull\b")).check()
    page.get_by_role("checkbox", name=re.compile(r"\bForceDeletes\b")).check()
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Restart provisioning").click()
    page.wait_for_url(re.compile(r"\?notice="))
    assert "Full, ForceDeletes" in page.get_by_role("status").first.inner_text()
    shot(page, "apps-provisioning-edit")


def test_the_pages_read_at_phone_width(signed_in):
    page = signed_in
    sp = add_gallery_app(page, "On-premises SCIM app", "Phone " + secrets.token_hex(3))
    page.set_viewport_size({"width": 390, "height": 844})
    open_provisioning_edit(page, sp)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    shot(page, "apps-provisioning-edit-phone")
    page.goto("/console/apps")
    shot(page, "apps-list-phone")


def test_an_unknown_application_is_a_page_that_says_so(signed_in):
    page = signed_in
    answer = page.goto("/console/apps/00000000-0000-0000-0000-000000000001")
    assert answer.status == 404
    shot(page, "apps-not-found")
