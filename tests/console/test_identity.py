"""The identity service's pages (Databricks' account console and user settings): User provisioning and the SCIM
token, Workspaces and their Permissions, User management (users, groups, a principal's detail), Access tokens, the
Audit log; and a token of another account sees nothing of this one."""

import json
import re
import secrets
import urllib.error
import urllib.request

from conftest import shot, sign_in
from flow_identity import (
    add_account_group,
    add_account_user,
    add_group_member,
    add_workspace_permissions,
    create_workspace,
    find_account_group,
    find_account_user,
    generate_access_token,
    generate_scim_token,
    revoke_access_token,
)


def call(url: str, token: str):
    """GET `url` with a bearer token: (status, JSON body)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_user_provisioning_generates_a_scim_token_that_works_and_regenerates_it(signed_in, server):
    page = signed_in
    page.goto("/console/account/provisioning")
    shot(page, "identity-provisioning")
    scim_url, token = generate_scim_token(page)
    shot(page, "identity-provisioning-token")
    assert scim_url == f"{server.origin}/api/2.1/accounts/{server.account_id}/scim/v2"
    assert token.startswith("dapi")
    status, body = call(f"{scim_url}/Users?count=1", token)
    assert status == 200, body
    assert "totalResults" in body
    assert page.get_by_role("button", name="Copy the SCIM token").is_visible()

    # Regenerated: a new token, and the page states how long the previous one keeps working.
    _, second = generate_scim_token(page)
    shot(page, "identity-provisioning-regenerated")
    assert second != token
    assert "keeps working for 24 hours" in page.get_by_role("status").last.inner_text()
    assert call(f"{scim_url}/Users?count=1", second)[0] == 200
    assert call(f"{scim_url}/Users?count=1", token)[0] == 200, "the previous token works during the grace period"
    # The token is shown once: the page shows it no more.
    page.goto("/console/account/provisioning")
    assert second not in page.content()
    assert page.get_by_role("button", name="Regenerate token").is_visible()


def test_workspace_user_group_assignment_entitlements_and_audit(signed_in, server):
    page = signed_in
    suffix = secrets.token_hex(3)
    email, name, group = f"ada.{suffix}@example.com", f"Ada Lovelace {suffix}", f"Engineers {suffix}"

    workspace_id = create_workspace(page, f"analytics-{suffix}", identity_federation=True)
    assert "Enabled" in page.get_by_role("definition").filter(has_text="Enabled").first.inner_text()
    shot(page, "identity-workspace-created")
    page.goto("/console/account/workspaces")
    row = page.get_by_role("row").filter(has_text=f"analytics-{suffix}")
    assert workspace_id in row.inner_text() and "Enabled" in row.inner_text()
    shot(page, "identity-workspaces")

    user_id = add_account_user(page, email, name)
    assert page.get_by_role("heading", name=name).is_visible()
    group_id = add_account_group(page, group)
    add_group_member(page, group_id, email)
    assert page.get_by_role("link", name=name).is_visible()
    shot(page, "identity-group")

    add_workspace_permissions(page, workspace_id, email, "User", "User")
    # Entitlements are read and changed through the workspace's own API: the signed-in admin needs to be one of its
    # admins too, as in Databricks.
    add_workspace_permissions(page, workspace_id, "admin", "User", "Admin")
    shot(page, "identity-workspace-permissions")
    row = page.get_by_role("row").filter(has_text=name)
    assert "USER" in row.inner_text()

    # The user, found through the search, with its groups, workspace assignments and entitlements.
    page.goto("/console/account/users")
    shot(page, "identity-users")
    assert find_account_user(page, name) == user_id
    shot(page, "identity-user")
    assert page.get_by_role("link", name=group).is_visible()
    assignments = page.get_by_role("row").filter(has_text=f"analytics-{suffix}")
    assert "USER" in assignments.inner_text()
    card = page.locator("section.card").filter(has_text=f"In analytics-{suffix}")
    card.get_by_label("databricks-sql-access").check()
    card.get_by_role("button", name="Save entitlements").click()
    page.wait_for_load_state()
    assert "Entitlements" in page.get_by_role("status").inner_text()
    card = page.locator("section.card").filter(has_text=f"In analytics-{suffix}")
    assert card.get_by_label("databricks-sql-access").is_checked()
    shot(page, "identity-user-entitlements")

    # A service principal gets an application ID of its own.
    page.goto("/console/account/service-principals")
    page.get_by_role("link", name="Add service principal").click()
    page.get_by_label("Name").fill(f"etl-bot-{suffix}")
    page.get_by_role("button", name="Add", exact=True).click()
    page.wait_for_url(re.compile(r"/console/account/service-principals/\d+"))
    assert re.search(r"Application ID\s+[0-9a-f-]{36}", page.get_by_role("main").inner_text())
    shot(page, "identity-service-principal")

    assert find_account_group(page, group) == group_id
    page.goto("/console/account/groups")
    shot(page, "identity-groups")

    # A mistake says what to fix, and keeps what was typed.
    page.goto(f"/console/account/workspaces/{workspace_id}")
    page.get_by_label("Principal", exact=True).fill("nobody@example.com")
    page.get_by_role("button", name="Add permissions").click()
    assert "no user \"nobody@example.com\"" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Principal", exact=True).input_value() == "nobody@example.com"
    shot(page, "identity-workspace-permissions-error")

    # The audit log shows those changes, filtered by resource type.
    page.goto("/console/account/audit")
    page.get_by_label("Resource type").select_option("User")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    assert "resource_type=User" in page.url
    table = page.get_by_role("table").inner_text()
    assert user_id in table and "create" in table
    shot(page, "identity-audit-users")
    page.get_by_label("Resource type").select_option("Assignment")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    assert "assign" in page.get_by_role("table").inner_text()
    page.get_by_label("Resource type").select_option("Workspace")
    page.get_by_label("Resource ID").fill(workspace_id)
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    assert workspace_id in page.get_by_role("table").inner_text()
    shot(page, "identity-audit-workspace")
    page.get_by_label("From (UTC)").fill("2999-01-01T00:00:00")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    assert "No entry matches these filters" in page.content()


def test_access_tokens_are_generated_once_listed_and_revoked(signed_in, server):
    page = signed_in
    comment = f"ci {secrets.token_hex(3)}"
    token = generate_access_token(page, comment, 30, str(server.workspace_id))
    shot(page, "identity-tokens-generated")
    assert token.startswith("dapi")
    status, body = call(f"{server.origin}/api/2.0/preview/scim/v2/Me", token)
    assert status == 200, body
    row = page.get_by_role("row").filter(has_text=comment)
    assert row.count() == 1
    revoke_access_token(page, comment)
    shot(page, "identity-tokens-revoked")
    assert "Token revoked" in page.get_by_role("status").inner_text()
    assert page.get_by_role("row").filter(has_text=comment).count() == 0
    assert call(f"{server.origin}/api/2.0/preview/scim/v2/Me", token)[0] == 401

    # A lifetime that is no number of days says what to fix.
    page.get_by_label("Comment").fill("bad")
    page.get_by_label("Lifetime (days)").fill("0")
    page.locator("#lifetime").evaluate("e => e.removeAttribute('min')")
    page.get_by_role("button", name="Generate", exact=True).click()
    assert "whole number of days" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Comment").input_value() == "bad"


def test_a_token_of_another_account_sees_nothing_of_this_one(page, server):
    # Something of the first account to look for.
    sign_in(page, server.token)
    suffix = secrets.token_hex(3)
    first_user = add_account_user(page, f"grace.{suffix}@example.com", f"Grace Hopper {suffix}")
    create_workspace(page, f"first-only-{suffix}")

    other = server.cli("account", "create", "--name", f"other-{suffix}")["account_id"]
    page.context.clear_cookies()
    sign_in(page, server.create_token(other, comment="other account admin"))
    page.goto("/console/account/users")
    shot(page, "identity-other-account-users")
    assert "Grace Hopper" not in page.content() and "This account has no users yet" in page.content()
    page.goto("/console/account/groups")
    assert "This account has no groups yet" in page.content()
    page.goto("/console/account/workspaces")
    shot(page, "identity-other-account-workspaces")
    assert "first-only" not in page.content() and "This account has no workspace yet" in page.content()
    page.goto("/console/account/provisioning")
    shot(page, "identity-other-account-provisioning")
    assert page.get_by_role("button", name="Enable user provisioning").is_visible()
    assert server.account_id not in page.content()
    page.goto("/console/account/audit")
    assert "Grace Hopper" not in page.content() and first_user not in page.content()
    # The first account's user by its id: not found, through the API's own check.
    answer = page.goto(f"/console/account/users/{first_user}")
    assert answer.status == 404
    shot(page, "identity-other-account-user-not-found")
    page.goto("/console/settings/tokens")
    assert "This account has no workspace yet" in page.content()


def test_pages_read_well_on_a_phone(browser, server):
    context = browser.new_context(base_url=server.origin, viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        sign_in(page, server.token, "/console/account/users")
        shot(page, "identity-users-phone")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways: {width}px"
        for path, name in [
            (f"/console/account/workspaces/{server.workspace_id}", "identity-workspace-phone"),
            ("/console/account/provisioning", "identity-provisioning-phone"),
            ("/console/account/audit", "identity-audit-phone"),
            ("/console/settings/tokens", "identity-tokens-phone"),
        ]:
            page.goto(path)
            shot(page, name)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} scrolls sideways: {width}px"
    finally:
        context.close()
