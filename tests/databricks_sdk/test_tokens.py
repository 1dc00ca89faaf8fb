"""w.tokens (personal access tokens: create/list/delete) and w.token_management (admin: list/get/delete, tokens on
behalf of service principals)."""

import uuid

import pytest
from databricks.sdk.errors import PermissionDenied, Unauthenticated

from helpers import email, uid


def test_create_use_list_delete(env, w_fed):
    comment = f"sdk-{uid()}"
    created = w_fed.tokens.create(comment=comment, lifetime_seconds=3600)
    assert created.token_value and created.token_value.startswith("dapi")
    info = created.token_info
    assert info.token_id and info.comment == comment
    assert abs((info.expiry_time - info.creation_time) - 3600 * 1000) < 60 * 1000

    with_pat = env.clients.workspace(created.token_value, env.ws_fed)
    assert with_pat.current_user.me().user_name == "admin"

    listed = {t.token_id: t for t in w_fed.tokens.list()}
    assert listed[info.token_id].comment == comment

    w_fed.tokens.delete(info.token_id)
    assert info.token_id not in {t.token_id for t in w_fed.tokens.list()}
    with pytest.raises(Unauthenticated):
        with_pat.current_user.me()


def test_token_without_lifetime_expires_in_two_years(w_fed):
    created = w_fed.tokens.create(comment=f"sdk-{uid()}")
    info = created.token_info
    two_years_ms = 2 * 365 * 24 * 3600 * 1000
    assert abs((info.expiry_time - info.creation_time) - two_years_ms) < 2 * 24 * 3600 * 1000
    w_fed.tokens.delete(info.token_id)


def test_pat_of_a_workspace_local_user(env, w_nf):
    user = w_nf.users.create(user_name=email("patuser"))
    token = env.server.create_token(env.account1, workspace=env.ws_nf, principal=user.id)
    local = env.clients.workspace(token, env.ws_nf)
    created = local.tokens.create(comment="mine", lifetime_seconds=600)
    pat = env.clients.workspace(created.token_value, env.ws_nf)
    assert pat.current_user.me().id == user.id
    # Each user lists only their own tokens.
    assert created.token_info.token_id in {t.token_id for t in local.tokens.list()}
    other = w_nf.users.create(user_name=email("patother"))
    other_client = env.clients.workspace(
        env.server.create_token(env.account1, workspace=env.ws_nf, principal=other.id), env.ws_nf
    )
    assert created.token_info.token_id not in {t.token_id for t in other_client.tokens.list()}
    # A workspace PAT does not open the account API.
    with pytest.raises((PermissionDenied, Unauthenticated)):
        next(iter(env.clients.account(created.token_value, env.account1).users.list()))


def test_token_management_list_get_delete(env, w_fed):
    me = w_fed.current_user.me()
    comment = f"tm-{uid()}"
    created = w_fed.tokens.create(comment=comment, lifetime_seconds=600)
    value, token_id = created.token_value, created.token_info.token_id
    listed = {t.token_id: t for t in w_fed.token_management.list()}
    assert listed[token_id].comment == comment
    assert listed[token_id].created_by_username == "admin"
    assert token_id in {t.token_id for t in w_fed.token_management.list(created_by_username="admin")}
    got = w_fed.token_management.get(token_id).token_info
    assert (got.token_id, got.comment, int(got.created_by_id)) == (token_id, comment, int(me.id))

    w_fed.token_management.delete(token_id)
    assert token_id not in {t.token_id for t in w_fed.token_management.list()}
    with pytest.raises(Unauthenticated):
        env.clients.workspace(value, env.ws_fed).current_user.me()


def test_token_on_behalf_of_a_service_principal(env, w_fed):
    app = str(uuid.uuid4())
    sp = w_fed.service_principals.create(application_id=app, display_name=f"obo-{uid()}")
    created = w_fed.token_management.create_obo_token(application_id=app, lifetime_seconds=600, comment="obo")
    assert created.token_value
    assert created.token_info.comment == "obo"
    as_sp = env.clients.workspace(created.token_value, env.ws_fed)
    assert as_sp.current_user.me().id == sp.id
    w_fed.token_management.delete(created.token_info.token_id)
    with pytest.raises(Unauthenticated):
        as_sp.current_user.me()
