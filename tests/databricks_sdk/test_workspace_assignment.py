"""a.workspace_assignment (list/update/delete/get) and what an assignment does in a federated workspace: the account
principal becomes visible with the same id (directly, or through an assigned group).

The Python SDK has no service for the workspace-side API /api/2.0/preview/permissionassignments (Terraform's
databricks_permission_assignment uses it): it is exercised through the WorkspaceClient's own api_client."""

import uuid

import pytest
from databricks.sdk.errors import BadRequest, NotFound, PermissionDenied
from databricks.sdk.service import iam

from helpers import cv, email, uid

USER, ADMIN = iam.WorkspacePermission.USER, iam.WorkspacePermission.ADMIN


def assignments(a, workspace_id):
    return {int(pa.principal.principal_id): pa for pa in a.workspace_assignment.list(workspace_id)}


def test_permission_levels(env, a1):
    levels = {p.permission_level for p in a1.workspace_assignment.get(env.ws_fed).permissions}
    assert levels == {USER, ADMIN}


def test_assign_and_unassign_an_account_user(env, a1, w_fed):
    user = a1.users.create(user_name=email("assign"), display_name="Assigned")
    with pytest.raises(NotFound):
        w_fed.users.get(user.id)

    a1.workspace_assignment.update(env.ws_fed, int(user.id), permissions=[USER])
    listed = assignments(a1, env.ws_fed)
    assert listed[int(user.id)].permissions == [USER]
    assert listed[int(user.id)].principal.user_name == user.user_name
    assert listed[int(user.id)].principal.display_name == "Assigned"

    # Visible in the workspace with the account id; and its token works there.
    assert w_fed.users.get(user.id).user_name == user.user_name
    token = env.server.create_token(env.account1, principal=user.id)
    assert env.clients.workspace(token, env.ws_fed).current_user.me().id == user.id

    a1.workspace_assignment.delete(env.ws_fed, int(user.id))
    assert int(user.id) not in assignments(a1, env.ws_fed)
    with pytest.raises(NotFound):
        w_fed.users.get(user.id)
    assert a1.users.get(user.id).id == user.id  # still an account user


def test_admin_wins_and_service_principal_names(env, a1):
    app = str(uuid.uuid4())
    sp = a1.service_principals.create(application_id=app, display_name=f"assign-sp-{uid()}")
    a1.workspace_assignment.update(env.ws_fed, int(sp.id), permissions=[USER, ADMIN])
    entry = assignments(a1, env.ws_fed)[int(sp.id)]
    assert entry.permissions == [ADMIN]
    assert entry.principal.service_principal_name == app


def test_empty_permissions_unassign(env, a1):
    user = a1.users.create(user_name=email("empty"))
    a1.workspace_assignment.update(env.ws_fed, int(user.id), permissions=[USER])
    assert int(user.id) in assignments(a1, env.ws_fed)
    a1.workspace_assignment.update(env.ws_fed, int(user.id), permissions=[])
    assert int(user.id) not in assignments(a1, env.ws_fed)


def test_workspace_level_create_is_an_assignment(env, a1, w_fed):
    user = w_fed.users.create(user_name=email("ws-created"))
    assert assignments(a1, env.ws_fed)[int(user.id)].permissions == [USER]


def test_assigned_group_makes_its_members_visible(env, a1, w_fed):
    member = a1.users.create(user_name=email("via-group"))
    group = a1.groups.create(display_name=f"assigned-{uid()}", members=[cv(member.id)])
    with pytest.raises(NotFound):
        w_fed.users.get(member.id)
    a1.workspace_assignment.update(env.ws_fed, int(group.id), permissions=[USER])
    assert assignments(a1, env.ws_fed)[int(group.id)].principal.group_name == group.display_name
    assert w_fed.groups.get(group.id).display_name == group.display_name
    assert w_fed.users.get(member.id).user_name == member.user_name
    a1.workspace_assignment.delete(env.ws_fed, int(group.id))
    with pytest.raises(NotFound):
        w_fed.users.get(member.id)


def test_other_account_cannot_assign(env, a1, a2):
    user = a1.users.create(user_name=email("foreign"))
    assert assignments(a1, env.ws_fed)  # the bootstrap admin is assigned
    with pytest.raises((PermissionDenied, NotFound)):
        a2.workspace_assignment.update(env.ws_fed, int(user.id), permissions=[USER])
    assert int(user.id) not in assignments(a1, env.ws_fed)


def test_workspace_side_permission_assignments_api(env, a1, w_fed):
    user = a1.users.create(user_name=email("ws-side"))
    api = w_fed.api_client
    created = api.do(
        "POST",
        "/api/2.0/preview/permissionassignments",
        body={"permission_assignments": [{"user_name": user.user_name, "permissions": ["USER"]}]},
    )
    (entry,) = created["permission_assignments"]
    assert not entry.get("error")
    assert int(entry["principal"]["principal_id"]) == int(user.id)

    listed = api.do("GET", "/api/2.0/preview/permissionassignments")
    by_id = {int(e["principal"]["principal_id"]): e for e in listed["permission_assignments"]}
    assert by_id[int(user.id)]["permissions"] == ["USER"]

    api.do("PUT", f"/api/2.0/preview/permissionassignments/principals/{user.id}", body={"permissions": ["ADMIN"]})
    assert assignments(a1, env.ws_fed)[int(user.id)].permissions == [ADMIN]

    api.do("DELETE", f"/api/2.0/preview/permissionassignments/principals/{user.id}")
    assert int(user.id) not in assignments(a1, env.ws_fed)


def test_bootstrap_admin_is_a_workspace_admin(env, a1, w_fed):
    me = w_fed.current_user.me()
    entry = assignments(a1, env.ws_fed)[int(me.id)]
    assert entry.permissions == [ADMIN]
    assert entry.principal.user_name == "admin"


def test_non_federated_workspace_takes_no_assignments(env, a1):
    user = a1.users.create(user_name=email("nf-assign"))
    with pytest.raises(BadRequest):
        a1.workspace_assignment.update(env.ws_nf, int(user.id), permissions=[USER])
    assert int(user.id) not in assignments(a1, env.ws_nf)


def test_principal_of_another_account_cannot_be_assigned(env, a1, a2):
    foreign = a2.users.create(user_name=email("foreign"))
    with pytest.raises(NotFound):
        a1.workspace_assignment.update(env.ws_fed, int(foreign.id), permissions=[USER])
    with pytest.raises(NotFound):
        a1.workspace_assignment.update(env.ws_fed, 123456789, permissions=[USER])
