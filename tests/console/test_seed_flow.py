"""The seed documents' whole flow in the browser, as a newcomer does it minutes after the first start: sign in; create
users and a group in the directory; on the identity side, open User provisioning, generate the SCIM token and copy the
account SCIM URL; on the provisioning side, add the Azure Databricks connector from the gallery, paste the URL and the
token, Test Connection (a wrong token first, its reason shown; then the right one), assign the group, edit a mapping
with an expression validated as it is typed, add a scoping filter, provision one user on demand and read its steps,
turn provisioning on and watch the initial cycle's progress reach its end without a reload; then find the users and
the group in the account console, and open the provisioning logs and one entry's details. Then the same flow's
security checks. Every page visited is saved as target/console-screenshots/seed-*.png.

The target is this very server's account SCIM API, reached over HTTP as any target is: the provisioning side knows it
only by the URL and token pasted into Admin Credentials.
"""

import re
import secrets
from urllib.parse import quote

from conftest import shot, sign_in
from flow_apps import add_gallery_app, assign, open_provisioning_edit, provisioning_on
from flow_directory import add_member, create_group, create_user
from flow_identity import find_account_group, find_account_user, generate_scim_token
from flow_mappings import add_scoping_filter, edit_mapping_expression
from flow_runs import CYCLE_TIMEOUT_MS, open_first_log, provision_on_demand

SUFFIX = secrets.token_hex(3)
GROUP = f"Databricks users {SUFFIX}"
# (user principal name, first name, last name, department): the scoping filter admits the Data department only.
PEOPLE = [
    (f"ada.{SUFFIX}@contoso.com", "Ada", f"Lovelace{SUFFIX}", "Data"),
    (f"alan.{SUFFIX}@contoso.com", "Alan", f"Turing{SUFFIX}", "Data"),
    (f"eve.{SUFFIX}@contoso.com", "Eve", "<script>alert(1)</script>", "Data"),
    (f"sam.{SUFFIX}@contoso.com", "Sam", f"Sales{SUFFIX}", "Sales"),
]


def test_the_seed_flow_in_the_browser(signed_in, server):
    page = signed_in
    alerts = []
    page.on("dialog", lambda d: alerts.append(d.message) if d.type == "alert" else None)
    shot(page, "seed-01-home")

    # The directory: users and a group with them as members.
    for upn, first, last, department in PEOPLE:
        create_user(page, upn, f"{first} {last}", **{"First name": first, "Last name": last, "Department": department})
    shot(page, "seed-02-user-created")
    create_group(page, GROUP)
    for _, first, last, _ in PEOPLE:
        add_member(page, GROUP, f"{first} {last}")
    shot(page, "seed-03-group-with-members")

    # The identity side: User provisioning, the SCIM token and the account SCIM URL.
    scim_url, scim_token = generate_scim_token(page)
    assert scim_url == f"{server.origin}/api/2.1/accounts/{server.account_id}/scim/v2"
    assert scim_token.startswith("dapi")
    shot(page, "seed-04-user-provisioning-token")

    # The provisioning side: the connector from the gallery, Admin Credentials, Test Connection.
    sp = add_gallery_app(page, "Azure Databricks SCIM Provisioning Connector", f"Azure Databricks {SUFFIX}")
    shot(page, "seed-05-app-overview")
    open_provisioning_edit(page, sp)
    page.get_by_label("Tenant URL").fill(scim_url)
    page.get_by_label("Secret Token").fill("dapi" + "0" * 64)
    page.get_by_role("button", name="Test Connection").click()
    failed = page.locator("#test-result").inner_text()
    assert re.search(r"fail|could not|401|unauthori", failed, re.I), failed
    shot(page, "seed-06-test-connection-wrong-token")
    page.get_by_label("Secret Token").fill(scim_token)
    page.get_by_role("button", name="Test Connection").click()
    succeeded = page.locator("#test-result").inner_text()
    assert "authorized to enable provisioning" in succeeded, succeeded
    shot(page, "seed-07-test-connection-success")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/provisioning/edit\?notice="))

    # Users and groups: the group is assigned (its direct members are in scope).
    assign(page, sp, GROUP)
    shot(page, "seed-08-assigned")

    # Mappings: displayName from an expression, checked as it is typed; a scoping filter on the department.
    invalid = edit_mapping_expression(page, sp, "displayName", 'Join(" ", [givenName], [surname]')
    assert invalid.startswith("Invalid"), invalid
    shot(page, "seed-09-expression-invalid")
    valid = edit_mapping_expression(page, sp, "displayName", 'Join(" ", [givenName], [surname])', sample=PEOPLE[0][0])
    assert valid.startswith("Valid"), valid
    assert f"Ada Lovelace{SUFFIX}" in valid, "the result on the sample user"
    shot(page, "seed-10-expression-saved")
    add_scoping_filter(page, sp, "department", "EQUALS", "Data", title="Data department")
    assert page.get_by_text("Data department").first.is_visible()
    shot(page, "seed-11-scoping-filter")

    # Provision on demand: one user, every step.
    steps = provision_on_demand(page, sp, f"Ada Lovelace{SUFFIX}")
    for step in ("Import", "scope", "Match", "action"):
        assert step.lower() in steps.lower(), steps
    shot(page, "seed-12-on-demand")

    # Provisioning Status On, then the Overview: the initial cycle's progress, live, to its end.
    provisioning_on(page, sp)
    page.goto(f"/console/apps/{sp}/provisioning")
    page.evaluate("window.__notReloaded = true")
    shot(page, "seed-13-overview-running")
    status = page.locator("#job-status")
    status.get_by_text(re.compile(r"^Initial cycle completed")).wait_for(timeout=CYCLE_TIMEOUT_MS)
    progress = status.locator("progress")
    assert progress.get_attribute("value") == progress.get_attribute("max"), status.inner_html()
    # The chart of recent cycles shows the cycle that just ended, also without a reload.
    cycles = page.locator("#recent-cycles-section table tbody tr")
    cycles.filter(has_text="Initial").first.wait_for(timeout=30_000)
    assert page.evaluate("window.__notReloaded === true"), "the progress and the chart followed without a reload"
    shot(page, "seed-14-overview-done")

    # The account console: the users in scope and the group are there, the user out of scope is not.
    find_account_user(page, f"Alan Turing{SUFFIX}")
    shot(page, "seed-15-account-user")
    find_account_group(page, GROUP)
    shot(page, "seed-16-account-group")
    page.goto(f"/console/account/users?q={quote(PEOPLE[3][0])}")
    assert page.get_by_text(re.compile("no users begin with", re.I)).first.is_visible(), "out of scope: not provisioned"
    assert page.locator("main table tbody tr").count() == 0
    page.goto(f"/console/account/users?q={quote('eve.' + SUFFIX)}")
    assert page.get_by_text("Eve <script>alert(1)</script>").first.is_visible(), "markup shown as text"
    shot(page, "seed-17-account-user-markup")

    # The provisioning logs, and one entry's details.
    heading = open_first_log(page, sp)
    assert heading
    shot(page, "seed-18-log-details")
    for tab in ("Steps", "Troubleshooting & Recommendations", "Modified Properties", "Summary"):
        page.get_by_role("link", name=tab).click()
        page.wait_for_load_state()
    shot(page, "seed-19-log-summary")
    assert alerts == [], f"a script ran: {alerts}"


def test_the_seed_flows_security_checks(signed_in, server, context):
    page = signed_in
    alerts = []
    page.on("dialog", lambda d: alerts.append(d.message) if d.type == "alert" else None)

    # A form posted without its CSRF token is refused, and creates nothing.
    upn = f"csrf.{SUFFIX}@contoso.com"
    refused = page.request.post(
        f"{server.origin}/console/users/new",
        form={"userPrincipalName": upn, "displayName": "CSRF", "mailNickname": "csrf", "password": "Passw0rd!x"},
    )
    assert refused.status == 403, refused.text()
    page.goto(f"/console/users?q={quote(upn)}")
    assert page.locator("main table tbody tr").count() == 0, "the refused form created nobody"

    # The session cookie's flags.
    session = {c["name"]: c for c in context.cookies()}["idplane_console"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["expires"] > 0

    # A displayName of markup renders as text.
    name = f"<script>alert(1)</script>{SUFFIX}"
    create_user(page, f"markup.{SUFFIX}@contoso.com", name)
    assert page.get_by_text(name).first.is_visible()
    page.goto(f"/console/users?q={quote(name)}")
    assert page.get_by_role("link", name=name).first.is_visible()
    shot(page, "seed-20-markup-as-text")
    assert alerts == [], f"a script ran: {alerts}"

    # A token of another account sees nothing of this one: not its directory, applications, users or workspaces.
    create_group(page, f"Only here {SUFFIX}")
    other = server.cli("account", "create", "--name", "seed flow: another account")["account_id"]
    context.clear_cookies()
    sign_in(page, server.create_token(other, comment="another account's admin"))
    for path in ("/console/groups", "/console/users", "/console/apps", "/console/logs", "/console/account/users",
                 "/console/account/groups", "/console/account/workspaces", "/console/account/audit"):
        page.goto(path)
        content = page.content()
        assert SUFFIX not in content, f"{path} shows the first account's data"
        assert server.account_id not in content, path
    shot(page, "seed-21-another-account")
