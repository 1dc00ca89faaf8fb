"""Steps of the seed flow on the provisioning job's pages (Overview, Provision on demand, Provisioning logs), for
the tests of this area and the whole seed flow. Each takes a signed-in Playwright page."""

import re

# A first cycle of a few dozen users ends well within this (the scheduler looks for due jobs every second).
CYCLE_TIMEOUT_MS = 90_000


def provision_on_demand(page, sp_id: str, display_name: str) -> str:
    """Provision on demand: searches the user by name, clicks Provision, opens every step card; returns the text of
    the result (its step cards)."""
    page.goto(f"/console/apps/{sp_id}/provisioning/ondemand")
    page.get_by_label("Search users and groups").fill(display_name)
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("button", name=f"Provision {display_name}", exact=True).click()
    result = page.locator("section.ondemand-result")
    result.wait_for()
    for summary in result.locator("details.step > summary").all():
        if summary.locator("xpath=..").get_attribute("open") is None:
            summary.click()
    return result.inner_text()


def start_and_wait(page, sp_id: str, timeout_ms: int = CYCLE_TIMEOUT_MS) -> str:
    """Start provisioning on the Overview and wait, without reloading, until the live status says the initial cycle
    completed; returns the text of the status."""
    page.goto(f"/console/apps/{sp_id}/provisioning")
    page.get_by_role("button", name="Start provisioning", exact=True).click()
    page.wait_for_url(re.compile(r"/provisioning\?notice="))
    status = page.locator("#job-status")
    status.get_by_text(re.compile(r"^(Initial|Incremental) cycle completed")).wait_for(timeout=timeout_ms)
    return status.inner_text()


def open_first_log(page, sp_id: str) -> str:
    """Opens the application's provisioning logs and the newest record's details; returns the detail's heading."""
    page.goto(f"/console/apps/{sp_id}/logs")
    page.locator("table.logs tbody tr").first.get_by_role("link").first.click()
    page.get_by_role("link", name="Troubleshooting & Recommendations").wait_for()
    return page.get_by_role("heading", level=1).inner_text()
