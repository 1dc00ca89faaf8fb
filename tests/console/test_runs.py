"""The provisioning job's pages: the Overview with its live progress, statistics and chart of recent cycles,
Provision on demand, the Provisioning logs (filters, details and their tabs, downloads) and the Preview.

The application is set up through the Graph API, as a script would: the Databricks connector from the gallery, its
job, admin credentials whose tenant URL is this very server's account SCIM API, users assigned through a group and
one assigned directly. The server runs the worker with its default settings (due jobs looked for every second)."""

import json
import re
import time
import urllib.error
import urllib.request
import uuid

import pytest

from conftest import shot
from flow_runs import open_first_log, provision_on_demand, start_and_wait

DATABRICKS_APP_TEMPLATE = "9c9818d2-2900-49e8-8ba4-22688be7c675"
DEFAULT_ACCESS = "00000000-0000-0000-0000-000000000000"
GROUP_MEMBERS = 24


def graph(server, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{server.origin}/v1.0{path}", data=data, method=method, headers={
        "Authorization": f"Bearer {server.token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            text = r.read()
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{method} {path}: {e.code} {e.read().decode()}") from None
    return json.loads(text) if text else None


def new_user(server, name: str) -> dict:
    nick = f"{name.lower().replace(' ', '.')}"
    return graph(server, "POST", "/users", {
        "accountEnabled": True, "displayName": name, "mailNickname": nick,
        "userPrincipalName": f"{nick}@contoso.com"})


def assign(server, sp_id: str, principal_id: str) -> None:
    graph(server, "POST", f"/servicePrincipals/{sp_id}/appRoleAssignedTo",
          {"principalId": principal_id, "resourceId": sp_id, "appRoleId": DEFAULT_ACCESS})


def new_app(server, name: str, with_job: bool = True) -> str:
    sp = graph(server, "POST", f"/applicationTemplates/{DATABRICKS_APP_TEMPLATE}/instantiate",
               {"displayName": name})["servicePrincipal"]
    if with_job:
        graph(server, "POST", f"/servicePrincipals/{sp['id']}/synchronization/jobs", {"templateId": "dataBricks"})
        token = server.create_token(server.account_id)
        url = f"{server.origin}/api/2.1/accounts/{server.account_id}/scim/v2"
        graph(server, "PUT", f"/servicePrincipals/{sp['id']}/synchronization/secrets", {"value": [
            {"key": "BaseAddress", "value": url}, {"key": "SecretToken", "value": token}]})
    return sp["id"]


@pytest.fixture(scope="module")
def app(server):
    """An application whose job provisions into this server's account: a group of users and one user assigned."""
    run = uuid.uuid4().hex[:6]
    sp_id = new_app(server, f"Databricks runs {run}")
    members = [new_user(server, f"Member {run} {i:02d}") for i in range(GROUP_MEMBERS)]
    group = graph(server, "POST", "/groups", {
        "displayName": f"Runs team {run}", "mailEnabled": False, "mailNickname": f"runs-{run}",
        "securityEnabled": True})
    for m in members:
        graph(server, "POST", f"/groups/{group['id']}/members/$ref",
              {"@odata.id": f"{server.origin}/v1.0/directoryObjects/{m['id']}"})
    assign(server, sp_id, group["id"])
    ada = new_user(server, f"Ada Runs {run}")
    assign(server, sp_id, ada["id"])
    return {"sp": sp_id, "run": run, "ada": ada, "group": group, "members": members}


@pytest.fixture
def provisioned(app, server):
    """The application after its initial cycle: started through the Graph API unless a test did it on the page."""
    jobs = f"/servicePrincipals/{app['sp']}/synchronization/jobs"
    job = graph(server, "GET", jobs)["value"][0]
    if job["schedule"]["state"] != "Active":
        graph(server, "POST", f"{jobs}/{job['id']}/start")
    deadline = time.monotonic() + 90
    while not graph(server, "GET", f"{jobs}/{job['id']}")["status"].get("lastExecution"):
        assert time.monotonic() < deadline, "the initial cycle did not end within 90 s"
        time.sleep(0.5)
    return app


def test_the_overview_of_a_job_not_started_says_what_to_do(signed_in, app):
    page = signed_in
    page.goto(f"/console/apps/{app['sp']}/provisioning")
    assert page.get_by_role("heading", name="Current cycle status").is_visible()
    assert "No cycle has run yet" in page.locator("#job-status").inner_text()
    for name in ["Start provisioning", "Restart provisioning"]:
        assert page.get_by_role("button", name=name, exact=True).is_visible()
    for name in ["Edit provisioning", "Provision on demand", "View provisioning logs"]:
        assert page.get_by_role("link", name=name, exact=True).first.is_visible()
    shot(page, "runs-overview-not-started")


def test_provision_one_user_on_demand_and_read_its_steps(signed_in, app):
    page = signed_in
    steps = provision_on_demand(page, app["sp"], app["ada"]["displayName"])
    for card in ["Import user", "Determine if user is in scope", "Match user between source and target",
                 "Perform action"]:
        assert card in steps, steps
    assert "Test connection" not in steps, "the connection card shows only on failure"
    assert "Success" in steps
    assert "Modified properties" in steps and "userName" in steps
    shot(page, "runs-ondemand-user")


def test_provision_on_demand_explains_a_search_without_match(signed_in, app):
    page = signed_in
    page.goto(f"/console/apps/{app['sp']}/provisioning/ondemand?q=Nobody-{app['run']}")
    assert "No user or group" in page.locator("main").inner_text()
    page.goto(f"/console/apps/{app['sp']}/provisioning/ondemand?q=Runs+team+{app['run']}")
    page.get_by_role("link", name=f"Select Runs team {app['run']}").click()
    assert "more than 5 members" in page.locator("main").inner_text()
    shot(page, "runs-ondemand-group")


def test_provision_a_small_group_on_demand_with_its_members(signed_in, app, server):
    page = signed_in
    run = app["run"]
    pair = [new_user(server, f"Pair {run} {i}") for i in range(2)]
    group = graph(server, "POST", "/groups", {"displayName": f"Pair team {run}", "mailEnabled": False,
                                              "mailNickname": f"pair-{run}", "securityEnabled": True})
    for m in pair:
        graph(server, "POST", f"/groups/{group['id']}/members/$ref",
              {"@odata.id": f"{server.origin}/v1.0/directoryObjects/{m['id']}"})
    assign(server, app["sp"], group["id"])
    page.goto(f"/console/apps/{app['sp']}/provisioning/ondemand")
    page.get_by_label("Search users and groups").fill(f"Pair team {run}")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("link", name=f"Select Pair team {run}").click()
    assert all(m["displayName"] in page.locator("main").inner_text() for m in pair)
    page.get_by_role("button", name="Provision group").click()
    result = page.locator("section.ondemand-result")
    text = result.inner_text()
    assert "Import group" in text and "Perform action" in text, text
    assert text.count("Provision group member") == 2, text
    shot(page, "runs-ondemand-group-provisioned")


def test_start_provisioning_and_watch_the_initial_cycle_end_without_reloading(signed_in, app):
    page = signed_in
    page.goto(f"/console/apps/{app['sp']}/provisioning")
    status = start_and_wait(page, app["sp"])
    assert "Initial cycle completed" in status, status
    # Still the page loaded after Start: the status came through the live fragment, not a reload.
    assert re.search(r"\?notice=", page.url)
    bar = page.locator("#job-status progress")
    assert bar.get_attribute("value") == bar.get_attribute("max")
    assert page.get_by_role("button", name="Stop provisioning").is_visible()
    shot(page, "runs-overview-cycle-completed")


def test_the_overview_shows_statistics_and_a_chart_of_recent_cycles(signed_in, provisioned):
    app = provisioned
    page = signed_in
    page.goto(f"/console/apps/{app['sp']}/provisioning")
    facts = page.locator("#job-status").inner_text()
    users = int(re.search(r"Users provisioned\s+(\d+)", facts).group(1))
    assert users >= GROUP_MEMBERS + 3, facts
    assert re.search(r"Groups provisioned\s+2", facts), facts
    assert "Last cycle duration" in facts and "Job ID" in facts
    chart = page.get_by_role("img", name="Objects exported per cycle")
    assert chart.is_visible()
    assert chart.locator("rect").count() >= 1
    table = page.get_by_role("table").filter(has_text="Cycle ID")
    first = table.locator("tbody tr").last
    assert "Initial" in first.inner_text() and "Success" in first.inner_text(), first.inner_text()
    shot(page, "runs-overview-statistics")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "runs-overview-phone")


def test_the_logs_filter_open_details_and_download(signed_in, provisioned):
    app = provisioned
    page = signed_in
    page.goto(f"/console/apps/{app['sp']}/logs")
    assert page.locator("table.logs tbody tr").count() >= GROUP_MEMBERS
    shot(page, "runs-logs-app")
    ada = app["ada"]["userPrincipalName"]
    page.get_by_label("Identity").fill(ada.split("@")[0])
    page.get_by_label("Status").select_option("success")
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("table.logs tbody tr")
    assert rows.count() >= 1
    assert all(ada in r for r in rows.all_inner_texts())
    shot(page, "runs-logs-filtered")
    page.get_by_label("Action").select_option("delete")
    page.get_by_role("button", name="Apply").click()
    assert "No provisioning log record matches" in page.locator("main").inner_text()

    heading = open_first_log(page, app["sp"])
    assert heading
    assert page.locator("details.step").count() >= 3
    shot(page, "runs-log-steps")
    for tab, shot_name, expect in [
        ("Troubleshooting & Recommendations", "runs-log-troubleshooting", r"Nothing to troubleshoot|Error code"),
        ("Modified Properties", "runs-log-modified", r"Property|No property"),
        ("Summary", "runs-log-summary", r"Cycle ID"),
    ]:
        page.get_by_role("link", name=tab).click()
        assert page.get_by_role("link", name=tab).get_attribute("aria-current") == "page"
        assert re.search(expect, page.locator("section.log-tab").inner_text())
        shot(page, shot_name)

    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "runs-log-summary-phone")
    page.goto(f"/console/apps/{app['sp']}/logs")
    shot(page, "runs-logs-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(f"/console/apps/{app['sp']}/logs?action=create")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    lines = open(download.value.path(), encoding="utf-8").read().strip().splitlines()
    assert lines[0].startswith("Date,Id,JobId,CycleId")
    assert len(lines) >= GROUP_MEMBERS + 2 and all(",create," in line for line in lines[1:3])
    with page.expect_download() as download:
        page.get_by_role("link", name="Download JSON").click()
    records = json.load(open(download.value.path(), encoding="utf-8"))
    assert len(records) == len(lines) - 1
    assert {r["provisioningAction"] for r in records} == {"create"}


def test_all_applications_logs_and_a_wrong_date_says_what_to_fix(signed_in, provisioned):
    page = signed_in
    page.goto("/console/logs")
    assert page.get_by_role("heading", name="Provisioning logs").is_visible()
    assert page.locator("table.logs tbody tr").count() >= 1
    shot(page, "runs-logs-all")
    answer = page.goto("/console/logs?range=custom&from=tomorrow")
    assert answer.status == 400
    assert "2026-12-06T10:00" in page.get_by_role("alert").inner_text()


def test_the_preview_lists_the_requests_of_the_next_cycle(signed_in, provisioned, server):
    app = provisioned
    page = signed_in
    late = new_user(server, f"Late Runs {app['run']}")
    assign(server, app["sp"], late["id"])
    page.goto(f"/console/apps/{app['sp']}/provisioning/preview")
    page.get_by_role("button", name="Preview next cycle").click()
    result = page.locator("main").inner_text()
    assert re.search(r"would send \d+ request", result), result
    table = page.locator("table.preview-requests")
    assert "POST" in table.inner_text() and late["userPrincipalName"] in table.inner_text()
    table.locator("details > summary").first.click()
    assert "userName" in table.locator("pre").first.inner_text()
    shot(page, "runs-preview")


def test_an_application_without_a_job_says_to_edit_provisioning(signed_in, server):
    page = signed_in
    sp_id = new_app(server, f"Databricks no job {uuid.uuid4().hex[:6]}", with_job=False)
    page.goto(f"/console/apps/{sp_id}/provisioning")
    assert "no provisioning job" in page.locator("main").inner_text()
    assert page.get_by_role("link", name="Edit provisioning").is_visible()
    shot(page, "runs-overview-no-job")
