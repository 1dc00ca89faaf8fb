"""Provisioning agents: the empty list says what to do; a registration token is shown once with the command."""

import re

from conftest import shot


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
