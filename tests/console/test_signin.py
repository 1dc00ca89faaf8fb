"""Signing in and out, and the console's safety: the session cookie's flags, CSRF, the Content-Security-Policy."""

import re

from conftest import shot, sign_in


def test_a_page_asks_to_sign_in_first_and_goes_there_after(page, server):
    page.goto("/console/account/provisioning")
    assert "/console/signin" in page.url
    shot(page, "signin")
    page.get_by_label("Token").fill(server.token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/console/account/provisioning$"))


def test_a_wrong_token_says_what_to_paste(page, server):
    sign_in(page, "dapi" + "0" * 64)
    error = page.get_by_role("alert")
    assert "cannot sign in" in error.inner_text()
    assert "admin token" in error.inner_text()
    shot(page, "signin-wrong-token")


def test_the_session_cookie_is_http_only_same_site_strict_and_expires(signed_in, context):
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["idplane_console"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert session["path"] == "/console"
    assert session["expires"] > 0, "a session cookie with an expiry, not one for the browser's life"
    # Served over plain HTTP here: Secure would keep the browser from sending it back (TLS runs set it).
    assert session["secure"] is False
    assert signed_in.evaluate("document.cookie") == "", "no script can read the session"


def test_signing_out_ends_the_session(signed_in):
    shot(signed_in, "home")
    signed_in.get_by_role("button", name="Sign out").click()
    signed_in.wait_for_url(re.compile(r"/console/signin"))
    assert "signed out" in signed_in.get_by_role("status").inner_text()
    signed_in.goto("/console")
    assert "/console/signin" in signed_in.url


def test_a_form_posted_without_its_csrf_token_is_refused(signed_in, server):
    answer = signed_in.request.post(f"{server.origin}/console/signout", form={"nothing": "1"})
    assert answer.status == 403
    assert "security token" in answer.text()
    # The session is still there: the refused post changed nothing.
    signed_in.goto("/console")
    assert "/console/signin" not in signed_in.url


def test_every_page_has_a_strict_content_security_policy(signed_in, server):
    answer = signed_in.request.get(f"{server.origin}/console")
    csp = answer.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
