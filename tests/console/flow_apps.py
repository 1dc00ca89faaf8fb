"""Reusable steps of the seed flow on the enterprise applications pages (Entra's names): add the connector from the
gallery, Admin Credentials, Test Connection, Users and groups, Provisioning Status On. Each takes a Playwright
`page` (signed in) and values; the lead composes the whole seed flow from them."""

import re


def add_gallery_app(page, template_label: str, name: str) -> str:
    """Enterprise applications › New application › pick `template_label`'s card › Name › Create; returns the new
    application's service principal id (it lands on its Overview)."""
    page.goto("/console/apps")
    page.get_by_role("link", name="New application").first.click()
    page.get_by_role("radio", name=template_label).check()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r"/console/apps/[^/?]+\?notice="))
    return re.search(r"/console/apps/([^/?]+)", page.url).group(1)


def open_provisioning_edit(page, sp_id: str) -> None:
    page.goto(f"/console/apps/{sp_id}/provisioning/edit")


def set_admin_credentials(page, sp_id: str, tenant_url: str, token: str) -> None:
    """Edit provisioning › Admin Credentials: Tenant URL and Secret Token, then Save (the job is created on the
    first save)."""
    open_provisioning_edit(page, sp_id)
    page.get_by_label("Tenant URL").fill(tenant_url)
    page.get_by_label("Secret Token").fill(token)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/provisioning/edit\?notice="))


def test_connection(page) -> str:
    """On the Edit provisioning page: Test Connection; returns the result as the page shows it."""
    page.get_by_role("button", name="Test Connection").click()
    result = page.locator("#test-result")
    result.wait_for()
    return result.inner_text()


# A step, not a test: pytest must not collect it where a test module imports it by its name.
test_connection.__test__ = False


def assign(page, sp_id: str, display_name: str) -> None:
    """Users and groups › Add user/group › search `display_name` › select it › Assign."""
    page.goto(f"/console/apps/{sp_id}/users")
    page.get_by_role("link", name="Add user/group").first.click()
    page.get_by_label("Search users and groups").fill(display_name)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("radio", name=re.compile(r"^" + re.escape(display_name) + r"\b")).first.check()
    page.get_by_role("button", name="Assign").click()
    page.wait_for_url(re.compile(r"/users\?notice="))


def set_provisioning_status(page, sp_id: str, on: bool) -> str:
    """Edit provisioning › Provisioning Status On or Off › Save; returns the notice."""
    open_provisioning_edit(page, sp_id)
    page.get_by_role("radio", name="On" if on else "Off", exact=True).check()
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/provisioning/edit\?notice="))
    return page.get_by_role("status").first.inner_text()


def provisioning_on(page, sp_id: str) -> str:
    """Provisioning Status On, Save: the first cycle starts."""
    return set_provisioning_status(page, sp_id, True)
