"""current_user.me and the X-Databricks-Org-Id header the SDK reads from /Me (get_workspace_id)."""

import uuid

from helpers import email, uid


def test_me_is_the_bootstrap_admin(w_fed, a1):
    me = w_fed.current_user.me()
    assert me.user_name == "admin"
    assert me.active is True
    (account_admin,) = a1.users.list(filter='userName eq "admin"')
    assert me.id == account_admin.id


def test_me_with_attributes(w_fed):
    me = w_fed.current_user.me(attributes="userName")
    assert me.user_name == "admin" and me.id
    assert me.display_name is None
    me = w_fed.current_user.me(excluded_attributes="displayName")
    assert me.user_name == "admin"
    assert me.display_name is None


def test_me_sends_org_id_header(w_fed, env):
    response = w_fed.api_client.do(
        "GET", "/api/2.0/preview/scim/v2/Me", response_headers=["X-Databricks-Org-Id"]
    )
    assert response["X-Databricks-Org-Id"] == str(env.ws_fed)
    assert response["userName"] == "admin"


def test_get_workspace_id(env):
    # Configured explicitly: no round trip.
    assert env.clients.workspace(env.token1, env.ws_nf).get_workspace_id() == env.ws_nf
    # Not configured: learned from /.well-known/databricks-config (the default workspace).
    assert env.clients.workspace(env.token1, None).get_workspace_id() == env.ws_fed


def test_me_of_a_workspace_local_user(env, w_nf):
    """A user of the workspace without identity federation, with a workspace token acting as that user."""
    user = w_nf.users.create(user_name=email("local"), display_name="Local User")
    token = env.server.create_token(env.account1, workspace=env.ws_nf, principal=user.id)
    w = env.clients.workspace(token, env.ws_nf)
    me = w.current_user.me()
    assert (me.id, me.user_name, me.display_name) == (user.id, user.user_name, "Local User")
    response = w.api_client.do("GET", "/api/2.0/preview/scim/v2/Me", response_headers=["X-Databricks-Org-Id"])
    assert response["X-Databricks-Org-Id"] == str(env.ws_nf)


def test_me_of_a_service_principal(env, w_fed):
    sp = w_fed.service_principals.create(application_id=str(uuid.uuid4()), display_name=f"me-sp-{uid()}")
    token = env.server.create_token(env.account1, principal=sp.id)
    me = env.clients.workspace(token, env.ws_fed).current_user.me()
    assert me.id == sp.id
    assert me.display_name == sp.display_name


def test_me_in_the_second_account(env, w2):
    """A user created through the SCIM API of account2's (federated) workspace, with an account token of account2
    acting as that user."""
    user = w2.users.create(user_name=email("acct2"), display_name="Second Account")
    token = env.server.create_token(env.account2, principal=user.id)
    me = env.clients.workspace(token, env.ws2).current_user.me()
    assert (me.id, me.user_name, me.display_name) == (user.id, user.user_name, "Second Account")
