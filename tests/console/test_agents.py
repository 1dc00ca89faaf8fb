"""Provisioning agents: the empty list says what to do; a registration token is shown once with the command."""

import os
import re
import subprocess

from conftest import shot
from flow_apps import add_gallery_app, open_provisioning_edit


def test_an_empty_list_says_what_to_do_and_a_token_is_shown_once(signed_in, server):
    page = signed_in
    page.goto("/console/agents")
    assert page.get_by_role("heading", name="Provisioning agents").is_visible()
    assert "No agent is registered" in page.locator(".empty").inner_text()
    shot(page, "agents-empty")

    page.get_by_label("Expires in (hours)").fill("100000")
    page.get_by_role("button", name="Create registration token").click()
    assert page.get_by_role("alert").is_visible()
    shot(page, "agents-token-error")

    page.get_by_label("Expires in (hours)").fill("2")
    page.get_by_role("button", name="Create registration token").click()
    token = page.locator("#registration-token").inner_text().strip()
    assert len(token) > 20
    command = page.locator("#register-command").inner_text()
    assert command.startswith(f"idplane agent register --service {server.origin} --token {token}")
    assert "shown only once" in page.get_by_role("status").inner_text()
    assert page.locator("time").first.get_attribute("datetime")
    shot(page, "agents-token")

    page.goto("/console/agents")
    assert token not in page.content(), "the token is shown once only"
    assert page.locator("#registration-token").count() == 0


def test_the_nav_marks_the_agents_page(signed_in):
    page = signed_in
    page.goto("/console/agents")
    current = page.locator('nav.side a[aria-current="page"]')
    assert current.inner_text() == "Provisioning agents"
    assert re.search(r"/console/agents$", current.get_attribute("href"))


def register_agent(server, token: str, work) -> str:
    """`idplane agent register` with a registration token (the agent is registered, not running: inactive)."""
    out = subprocess.run(
        [server.bin, "agent", "register", "--service", server.origin, "--token", token,
         "--config", str(work / "agent.toml")],
        capture_output=True, text=True, timeout=60, env={**os.environ, "NO_PROXY": "127.0.0.1"},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return re.search(r"registered agent (\S+)", out.stdout + out.stderr).group(1)


def test_a_registered_agent_is_listed_assigned_unassigned_and_deleted(signed_in, server, tmp_path):
    page = signed_in
    page.goto("/console/agents")
    page.get_by_role("button", name="Create registration token").click()
    agent_id = register_agent(server, page.locator("#registration-token").inner_text().strip(), tmp_path)
    page.goto("/console/agents")
    row = page.locator("tbody tr", has_text=agent_id)
    assert "inactive" in row.inner_text()
    assert "none" in row.inner_text()
    shot(page, "agents-list")

    sp = add_gallery_app(page, "On-premises SCIM app", "On-prem " + agent_id[:6])
    open_provisioning_edit(page, sp)
    choice = page.locator(f'input[name="agent"][value="{agent_id}"]')
    assert "inactive" in choice.locator("xpath=..").inner_text(), "each agent is labelled with its host and status"
    choice.check()
    page.get_by_role("button", name="Assign Agent(s)").click()
    page.wait_for_url(re.compile(r"\?notice="))
    assert agent_id in page.locator("section", has_text="On-Premises Connectivity").inner_text()
    shot(page, "apps-provisioning-agents")
    page.goto("/console/agents")
    assert "On-prem" in page.locator("tbody tr", has_text=agent_id).inner_text()

    open_provisioning_edit(page, sp)
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name=re.compile(r"^Unassign")).click()
    page.wait_for_url(re.compile(r"\?notice="))
    assert "No agent is assigned" in page.locator("section", has_text="On-Premises Connectivity").inner_text()

    page.goto("/console/agents")
    page.once("dialog", lambda d: d.accept())
    page.locator("tbody tr", has_text=agent_id).get_by_role("button", name=re.compile(r"^Delete")).click()
    page.wait_for_url(re.compile(r"\?notice="))
    assert agent_id not in page.content()

