"""Steps of the seed flow on the identity service's pages (Databricks' account console and user settings), as plain
functions over a signed-in Playwright page; tests/console/test_identity.py uses them, and the whole seed flow composes
them."""

import re
from typing import Tuple


def _accept_next_dialog(page) -> None:
    """Answers OK to the next confirm() (forms with data-confirm ask first)."""
    page.once("dialog", lambda dialog: dialog.accept())


def generate_scim_token(page) -> Tuple[str, str]:
    """Settings → User provisioning: "Enable user provisioning" (or "Regenerate token"); the Account SCIM URL and the
    SCIM token shown once."""
    page.goto("/console/account/provisioning")
    enable = page.get_by_role("button", name="Enable user provisioning")
    if enable.count():
        enable.click()
    else:
        _accept_next_dialog(page)
        page.get_by_role("button", name="Regenerate token").click()
    page.wait_for_load_state()
    scim_url = page.locator("#scim-url").inner_text().strip()
    token = page.locator("#scim-token").inner_text().strip()
    return scim_url, token


def create_workspace(page, name: str, identity_federation: bool = True) -> str:
    """Workspaces → Create workspace; the new workspace's id (its page is open after)."""
    page.goto("/console/account/workspaces")
    page.get_by_label("Workspace name").fill(name)
    page.get_by_label("Enable identity federation").set_checked(identity_federation)
    page.get_by_role("button", name="Create workspace").click()
    page.wait_for_url(re.compile(r"/console/account/workspaces/\d+"))
    return re.search(r"/workspaces/(\d+)", page.url).group(1)


def add_account_user(page, email: str, name: str) -> str:
    """User management → Users → Add user; the new user's id (its page is open after)."""
    page.goto("/console/account/users/new")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Add", exact=True).click()
    page.wait_for_url(re.compile(r"/console/account/users/\d+"))
    return page.url.rsplit("/", 1)[1].split("?")[0]


def add_account_group(page, name: str) -> str:
    """User management → Groups → Add group; the new group's id (its page is open after)."""
    page.goto("/console/account/groups/new")
    page.get_by_label("Group name").fill(name)
    page.get_by_role("button", name="Add", exact=True).click()
    page.wait_for_url(re.compile(r"/console/account/groups/\d+"))
    return page.url.rsplit("/", 1)[1].split("?")[0]


def add_group_member(page, group_id: str, member: str, member_type: str = "User") -> None:
    """A group's page → Members → Add member (a user's email, a group's name or an application ID)."""
    page.goto(f"/console/account/groups/{group_id}")
    page.get_by_label("Member type").select_option(label=member_type)
    page.get_by_label("Member", exact=True).fill(member)
    page.get_by_role("button", name="Add member").click()
    page.wait_for_load_state()


def add_workspace_permissions(page, workspace_id: str, principal: str, principal_type: str = "User",
                              permission: str = "User") -> None:
    """A workspace's page → Permissions → Add permissions."""
    page.goto(f"/console/account/workspaces/{workspace_id}")
    page.get_by_label("Principal type").select_option(label=principal_type)
    page.get_by_label("Principal", exact=True).fill(principal)
    page.get_by_label("Permission", exact=True).select_option(label=permission)
    page.get_by_role("button", name="Add permissions").click()
    page.wait_for_load_state()


def _find(page, tab: str, name: str) -> str:
    page.goto(f"/console/account/{tab}")
    page.get_by_role("search").get_by_role("searchbox").fill(name)
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    page.get_by_role("link", name=name, exact=True).first.click()
    page.wait_for_url(re.compile(rf"/console/account/{tab}/\d+"))
    return page.url.rsplit("/", 1)[1].split("?")[0]


def find_account_user(page, name: str) -> str:
    """User management → Users: searches for `name` (the beginning of a name or email) and opens the user whose
    shown name is `name`; its id."""
    return _find(page, "users", name)


def find_account_group(page, name: str) -> str:
    """User management → Groups: searches for `name` and opens that group; its id."""
    return _find(page, "groups", name)


def generate_access_token(page, comment: str, lifetime_days: int = 90, workspace_id: str = "") -> str:
    """User Settings → Access tokens → Generate new token; the token, shown once."""
    page.goto(f"/console/settings/tokens?workspace={workspace_id}" if workspace_id else "/console/settings/tokens")
    page.get_by_label("Comment").fill(comment)
    page.get_by_label("Lifetime (days)").fill(str(lifetime_days))
    page.get_by_role("button", name="Generate", exact=True).click()
    page.wait_for_load_state()
    return page.locator("#new-token").inner_text().strip()


def revoke_access_token(page, comment: str) -> None:
    """Access tokens → Revoke (confirmed) on the token with this comment (the page must be open)."""
    _accept_next_dialog(page)
    page.get_by_role("button", name=f"Revoke {comment}").click()
    page.wait_for_load_state()
