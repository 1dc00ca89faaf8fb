"""Steps of the seed flow in the directory (Entra's Users and Groups pages), for the console's browser tests.

Each takes a signed-in Playwright page and leaves it on the page the step ends on.
"""

import re


def create_user(page, upn: str, display_name: str, password: str = "Passw0rd!idplane", **labelled: str) -> str:
    """Users › New user: fills User principal name, Display name and Password (and any other field by its label,
    e.g. **{"Job title": "Analyst"}), clicks Create; returns the new user's page URL."""
    page.goto("/console/users/new")
    page.get_by_label("User principal name").fill(upn)
    page.get_by_label("Display name").fill(display_name)
    page.get_by_label("Password").fill(password)
    for label, value in labelled.items():
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r"/console/users/[0-9a-fA-F-]{36}\?notice="))
    return page.url.split("?")[0]


def _open(page, collection: str, name: str) -> None:
    page.goto(f"/console/{collection}")
    page.get_by_label("Search", exact=True).fill(name)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=name, exact=True).first.click()
    page.wait_for_url(re.compile(rf"/console/{collection}/[0-9a-fA-F-]{{36}}"))


def open_user(page, display_name: str) -> None:
    """All users: searches for the user and opens its page."""
    _open(page, "users", display_name)


def create_group(page, name: str, description: str = "", group_type: str = "Security") -> str:
    """Groups › New group: Group type (Security or Microsoft 365), Group name (and Group description), Create;
    returns the group's page URL."""
    page.goto("/console/groups/new")
    page.get_by_label("Group type").select_option(label=group_type)
    page.get_by_label("Group name").fill(name)
    if description:
        page.get_by_label("Group description").fill(description)
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r"/console/groups/[0-9a-fA-F-]{36}\?notice="))
    return page.url.split("?")[0]


def open_group(page, name: str) -> None:
    """All groups: searches for the group and opens its page."""
    _open(page, "groups", name)


def add_member(page, group_name: str, member_display_name: str) -> None:
    """A group's page › Add members: searches users and groups for the member and adds it (a group becomes a nested
    group); ends on the group's page with the notice."""
    open_group(page, group_name)
    page.get_by_role("link", name="Add members").first.click()
    page.get_by_label("Search users and groups").fill(member_display_name)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("button", name=f"Add {member_display_name}", exact=True).click()
    page.wait_for_url(re.compile(r"/console/groups/[0-9a-fA-F-]{36}\?notice="))
