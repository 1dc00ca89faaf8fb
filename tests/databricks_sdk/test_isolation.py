"""Isolation across the two accounts and the two workspaces of account1, and identity federation: a user created at
workspace level in the federated workspace is an account user with the same id; one created in the workspace without
federation is not."""

import uuid

import pytest
from databricks.sdk.errors import NotFound, PermissionDenied

from helpers import email, ids, uid


def test_accounts_do_not_see_each_other(a1, a2):
    one = a1.users.create(user_name=email("iso1"))
    two = a2.users.create(user_name=email("iso2"))
    assert ids(a2.users.list(filter=f'userName eq "{one.user_name}"')) == []
    assert ids(a1.users.list(filter=f'userName eq "{two.user_name}"')) == []
    with pytest.raises(NotFound):
        a2.users.get(one.id)
    with pytest.raises(NotFound):
        a1.users.get(two.id)
    group = a1.groups.create(display_name=f"iso-{uid()}")
    with pytest.raises(NotFound):
        a2.groups.get(group.id)
    sp = a1.service_principals.create(application_id=str(uuid.uuid4()), display_name=f"iso-{uid()}")
    with pytest.raises(NotFound):
        a2.service_principals.get(sp.id)


def test_same_names_in_two_accounts(a1, a2):
    name, group, app = email("twin"), f"twin-{uid()}", str(uuid.uuid4())
    u1, u2 = a1.users.create(user_name=name), a2.users.create(user_name=name)
    assert u1.id != u2.id
    g1, g2 = a1.groups.create(display_name=group), a2.groups.create(display_name=group)
    assert g1.id != g2.id
    s1 = a1.service_principals.create(application_id=app, display_name="twin")
    s2 = a2.service_principals.create(application_id=app, display_name="twin")
    assert s1.id != s2.id


def test_second_accounts_token_cannot_read_first_account(env, a1):
    user = a1.users.create(user_name=email("guarded"))
    intruder = env.clients.account(env.token2, env.account1)
    with pytest.raises(PermissionDenied):
        intruder.users.get(user.id)
    with pytest.raises(PermissionDenied):
        intruder.users.delete(user.id)
    assert a1.users.get(user.id).id == user.id


def test_federated_workspace_user_is_an_account_user(w_fed, a1):
    name = email("fed")
    user = w_fed.users.create(user_name=name, display_name="Federated")
    at_account = a1.users.get(user.id)
    assert (at_account.id, at_account.user_name) == (user.id, name)
    assert ids(a1.users.list(filter=f'userName eq "{name}"')) == [user.id]


def test_non_federated_workspace_user_is_not_an_account_user(w_nf, w_fed, a1):
    name = email("local")
    user = w_nf.users.create(user_name=name)
    with pytest.raises(NotFound):
        a1.users.get(user.id)
    assert ids(a1.users.list(filter=f'userName eq "{name}"')) == []
    with pytest.raises(NotFound):
        w_fed.users.get(user.id)
    assert ids(w_fed.users.list(filter=f'userName eq "{name}"')) == []


def test_workspaces_do_not_see_each_others_users(w_fed, w_nf):
    fed = w_fed.users.create(user_name=email("in-fed"))
    with pytest.raises(NotFound):
        w_nf.users.get(fed.id)
    assert ids(w_nf.users.list(filter=f'userName eq "{fed.user_name}"')) == []


def test_same_user_name_in_account_and_non_federated_workspace(a1, w_nf):
    """The non-federated workspace has its own user namespace."""
    name = email("both")
    account_user = a1.users.create(user_name=name)
    local = w_nf.users.create(user_name=name)
    assert local.id != account_user.id


def test_unassigned_account_user_is_not_in_the_federated_workspace(a1, w_fed):
    user = a1.users.create(user_name=email("unassigned"))
    with pytest.raises(NotFound):
        w_fed.users.get(user.id)
    assert ids(w_fed.users.list(filter=f'userName eq "{user.user_name}"')) == []


def test_workspace_group_in_federated_workspace_is_not_an_account_group(w_fed, a1):
    group = w_fed.groups.create(display_name=f"wsgroup-{uid()}")
    with pytest.raises(NotFound):
        a1.groups.get(group.id)
    assert ids(a1.groups.list(filter=f'displayName eq "{group.display_name}"')) == []


def test_deleting_an_account_user_removes_it_from_the_federated_workspace(w_fed, a1):
    user = w_fed.users.create(user_name=email("gone"))
    a1.users.delete(user.id)
    with pytest.raises(NotFound):
        w_fed.users.get(user.id)


def test_account_token_addresses_the_workspace_named_by_the_header(env, w_nf):
    """One account token, two workspaces: the SDK's workspace_id picks the workspace (X-Databricks-Workspace-Id)."""
    local = w_nf.users.create(user_name=email("hdr"))
    in_nf = env.clients.workspace(env.token1_service, env.ws_nf)
    in_fed = env.clients.workspace(env.token1_service, env.ws_fed)
    assert in_nf.users.get(local.id).id == local.id
    with pytest.raises(NotFound):
        in_fed.users.get(local.id)
    fed = in_fed.users.create(user_name=email("hdr-fed"))
    with pytest.raises(NotFound):
        in_nf.users.get(fed.id)


def test_account_admin_not_assigned_to_a_workspace_is_denied_there(env):
    """The bootstrap admin is an account admin assigned to ws_fed only."""
    client = env.clients.workspace(env.token1, env.ws_nf)
    with pytest.raises(PermissionDenied):
        next(iter(client.users.list()))


def test_workspace_token_cannot_read_another_workspace_of_its_account(env):
    """A workspace token of ws_fed only sees ws_fed: a user of ws_nf is not listed."""
    local = env.clients.workspace(env.token_ws_nf, env.ws_nf).users.create(user_name=email("wst"))
    fed_token_client = env.clients.workspace(env.token_ws_fed, None)
    assert ids(fed_token_client.users.list(filter=f'userName eq "{local.user_name}"')) == []


def test_workspace_token_with_another_workspaces_header_is_denied(env):
    client = env.clients.workspace(env.token_ws_nf, env.ws_fed)
    with pytest.raises(PermissionDenied):
        next(iter(client.users.list()))


def test_second_accounts_workspace_is_isolated(env, w2, w_fed):
    user = w2.users.create(user_name=email("ws2"))
    with pytest.raises(NotFound):
        w_fed.users.get(user.id)
    with pytest.raises(PermissionDenied):
        env.clients.workspace(env.token2, env.ws_fed).users.get(user.id)
