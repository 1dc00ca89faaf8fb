"""The PATCH shapes the SDK sends (reference 2.11): active, entitlements (workspace only), roles, members (see
test_groups), with and without `schemas`."""

import uuid

import pytest
from databricks.sdk.errors import BadRequest

from helpers import ADD, PATCH_SCHEMA, REMOVE, REPLACE, cv, email, patch, uid, values


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(patch(REPLACE, "active", "false"), id="string"),
        pytest.param(patch(REPLACE, "active", [{"value": "false"}]), id="list-wrapped-string"),
        pytest.param(patch(REPLACE, None, {"active": False}), id="path-less"),
    ],
)
def test_user_deactivate_and_reactivate(level, operation):
    user = level.users.create(user_name=email("act"))
    level.users.patch(user.id, schemas=PATCH_SCHEMA, operations=[operation])
    assert level.users.get(user.id).active is False
    level.users.patch(user.id, schemas=PATCH_SCHEMA, operations=[patch(REPLACE, "active", True)])
    assert level.users.get(user.id).active is True


def test_sdk_drops_a_false_value(level, record):
    """The SDK serialises Patch.value only if truthy: value=False goes out as {"op":"replace","path":"active"}
    (reference 2.11 #13). What the server makes of it is not asserted (unverified against Databricks); it must not
    fail."""
    user = level.users.create(user_name=email("falsy"), active=True)
    recorder = record(level.client)
    level.users.patch(user.id, schemas=PATCH_SCHEMA, operations=[patch(REPLACE, "active", False)])
    (call,) = [c for c in recorder.calls if c.method == "PATCH"]
    assert call.body["Operations"] == [{"op": "replace", "path": "active"}]
    assert level.users.get(user.id).id == user.id


def test_several_operations_in_one_request(level):
    user = level.users.create(user_name=email("multi"), display_name="Before")
    level.users.patch(
        user.id,
        schemas=PATCH_SCHEMA,
        operations=[patch(REPLACE, "displayName", "After"), patch(REPLACE, "active", "false")],
    )
    got = level.users.get(user.id)
    assert (got.display_name, got.active) == ("After", False)


def make(ws_level, kind, **kwargs):
    if kind == "user":
        return ws_level.users, ws_level.users.create(user_name=email("ent"), **kwargs)
    if kind == "group":
        return ws_level.groups, ws_level.groups.create(display_name=f"ent-{uid()}", **kwargs)
    return ws_level.service_principals, ws_level.service_principals.create(
        application_id=str(uuid.uuid4()), display_name=f"ent-{uid()}", **kwargs
    )


SQL = {"value": "databricks-sql-access"}
POOL = {"value": "allow-instance-pool-create"}


@pytest.mark.parametrize("kind", ["user", "group", "service-principal"])
def test_entitlements_add_replace_remove(ws_level, kind):
    api, created = make(ws_level, kind, entitlements=[cv("allow-cluster-create")])
    assert values(api.get(created.id).entitlements) == {"allow-cluster-create"}

    # {"op":"add","path":"entitlements","value":[{"value":"databricks-sql-access"}]}
    api.patch(created.id, schemas=PATCH_SCHEMA, operations=[patch(ADD, "entitlements", [SQL])])
    assert values(api.get(created.id).entitlements) == {"allow-cluster-create", "databricks-sql-access"}

    # {"op":"remove","path":"entitlements[value eq \"allow-cluster-create\"]"}
    api.patch(
        created.id, schemas=PATCH_SCHEMA, operations=[patch(REMOVE, 'entitlements[value eq "allow-cluster-create"]')]
    )
    assert values(api.get(created.id).entitlements) == {"databricks-sql-access"}

    # {"op":"replace","path":"entitlements","value":[...]}  (Terraform databricks_entitlements)
    api.patch(
        created.id,
        schemas=PATCH_SCHEMA,
        operations=[patch(REPLACE, "entitlements", [{"value": "workspace-access"}, POOL])],
    )
    assert values(api.get(created.id).entitlements) == {"workspace-access", "allow-instance-pool-create"}

    # {"op":"remove","path":"entitlements","value":[{"value":"workspace-access"}]}  (remove with a value list)
    api.patch(
        created.id, schemas=PATCH_SCHEMA, operations=[patch(REMOVE, "entitlements", [{"value": "workspace-access"}])]
    )
    assert values(api.get(created.id).entitlements) == {"allow-instance-pool-create"}

    # {"op":"add","value":{"entitlements":[...]}}  (path-less)
    api.patch(created.id, operations=[patch(ADD, None, {"entitlements": [SQL]})])
    assert values(api.get(created.id).entitlements) == {"allow-instance-pool-create", "databricks-sql-access"}


def test_put_with_empty_entitlements_clears_them(ws_level):
    name = email("clear")
    user = ws_level.users.create(user_name=name, entitlements=[cv("allow-cluster-create")])
    ws_level.users.update(user.id, user_name=name, entitlements=[])
    assert not ws_level.users.get(user.id).entitlements


def test_account_level_rejects_entitlements_on_create(a1):
    with pytest.raises(BadRequest):
        a1.users.create(user_name=email("acct-ent"), entitlements=[cv("allow-cluster-create")])


def test_account_level_rejects_entitlements_on_patch(a1):
    group = a1.groups.create(display_name=f"acct-ent-{uid()}")
    with pytest.raises(BadRequest):
        a1.groups.patch(
            group.id, schemas=PATCH_SCHEMA, operations=[patch(ADD, "entitlements", [{"value": "workspace-access"}])]
        )


def test_account_admin_role(a1):
    """Go SDK example: path-less add of {"roles":[{"value":"account_admin"}]}; remove by filter path."""
    user = a1.users.create(user_name=email("role"))
    add_role = patch(ADD, None, {"roles": [{"value": "account_admin"}]})
    a1.users.patch(user.id, schemas=PATCH_SCHEMA, operations=[add_role])
    assert values(a1.users.get(user.id).roles) == {"account_admin"}
    a1.users.patch(user.id, schemas=PATCH_SCHEMA, operations=[patch(REMOVE, 'roles[value eq "account_admin"]')])
    assert not a1.users.get(user.id).roles


def test_workspace_group_roles(ws_level):
    """Terraform databricks_group_role: add/remove of instance-profile ARNs on a workspace group."""
    arn = f"arn:aws:iam::123456789012:instance-profile/{uid()}"
    group = ws_level.groups.create(display_name=f"role-{uid()}")
    ws_level.groups.patch(group.id, schemas=PATCH_SCHEMA, operations=[patch(ADD, "roles", [{"value": arn}])])
    assert values(ws_level.groups.get(group.id).roles) == {arn}
    ws_level.groups.patch(group.id, schemas=PATCH_SCHEMA, operations=[patch(REMOVE, f'roles[value eq "{arn}"]')])
    assert not ws_level.groups.get(group.id).roles
