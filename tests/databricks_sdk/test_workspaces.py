"""a.workspaces: list (a bare JSON array), get, create (and wait for RUNNING), delete; per account."""

from datetime import timedelta

import pytest
from databricks.sdk.errors import NotFound, PermissionDenied
from databricks.sdk.service import provisioning

from helpers import uid


def test_list(env, a1):
    listed = {w.workspace_id: w for w in a1.workspaces.list()}
    assert env.ws_fed in listed and env.ws_nf in listed
    assert env.ws2 not in listed
    for workspace in listed.values():
        assert workspace.account_id == env.account1
        assert workspace.workspace_name
        assert workspace.workspace_status == provisioning.WorkspaceStatus.RUNNING


def test_list_in_the_second_account(env, a2):
    assert [w.workspace_id for w in a2.workspaces.list()] == [env.ws2]


def test_get(env, a1):
    workspace = a1.workspaces.get(env.ws_nf)
    assert workspace.workspace_id == env.ws_nf
    assert workspace.account_id == env.account1
    assert workspace.workspace_status == provisioning.WorkspaceStatus.RUNNING
    assert workspace.workspace_name


def test_get_unknown_or_foreign_workspace(env, a1):
    assert a1.workspaces.get(env.ws_fed).workspace_id == env.ws_fed
    with pytest.raises(NotFound):
        a1.workspaces.get(123456789)
    with pytest.raises((NotFound, PermissionDenied)):
        a1.workspaces.get(env.ws2)


def test_create_and_delete(env, a1):
    name = f"sdk-created-{uid()}"
    created = a1.workspaces.create_and_wait(workspace_name=name, location="westeurope", timeout=timedelta(seconds=60))
    assert created.workspace_name == name
    assert created.workspace_status == provisioning.WorkspaceStatus.RUNNING
    assert created.workspace_id in {w.workspace_id for w in a1.workspaces.list()}
    # The new workspace answers its SCIM API with an admin token of the account.
    w = env.clients.workspace(env.token1_service, created.workspace_id)
    assert list(w.users.list(filter='userName eq "nobody@example.com"')) == []
    a1.workspaces.delete(created.workspace_id)
    with pytest.raises(NotFound):
        a1.workspaces.get(created.workspace_id)
