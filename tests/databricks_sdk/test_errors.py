"""The SDK's error classes (databricks.sdk.errors) for what the server answers: NotFound (404), ResourceConflict (409),
Unauthenticated (401), PermissionDenied (403), BadRequest (400); error_code SCIM_<status>."""

import time
import uuid

import pytest
from databricks.sdk.errors import NotFound, PermissionDenied, ResourceConflict, Unauthenticated

from helpers import DATABRICKS_STRICT, cv, databricks_strict, email, patch, REPLACE, uid

UNKNOWN_ID = "999999999999999"


def message(error) -> str:
    """The SCIM `detail` as the SDK renders it (f"{scimType} {detail}"), without the scimType it prepends: "None "
    when there is none, "uniqueness " for a conflict."""
    text = str(error)
    for scim_type in ("None ", "uniqueness "):
        if text.startswith(scim_type):
            return text[len(scim_type):]
    return text


@pytest.mark.parametrize("resource", ["users", "groups", "service_principals"])
def test_unknown_id_is_not_found(level, resource):
    api = getattr(level, resource)
    with pytest.raises(NotFound) as get:
        api.get(UNKNOWN_ID)
    assert get.value.error_code == "SCIM_404"
    with pytest.raises(NotFound):
        api.delete(UNKNOWN_ID)
    with pytest.raises(NotFound):
        api.patch(UNKNOWN_ID, operations=[patch(REPLACE, "displayName", "x")])
    with pytest.raises(NotFound):
        if resource == "users":
            api.update(UNKNOWN_ID, user_name=email("nobody"))
        elif resource == "groups":
            api.update(UNKNOWN_ID, display_name=f"nobody-{uid()}")
        else:
            api.update(UNKNOWN_ID, application_id=str(uuid.uuid4()), display_name="nobody")


def test_duplicate_user_is_conflict(level):
    name = email("dup")
    level.users.create(user_name=name)
    with pytest.raises(ResourceConflict) as same:
        level.users.create(user_name=name)
    assert same.value.error_code == "SCIM_409"
    with pytest.raises(ResourceConflict):
        level.users.create(user_name=name.upper())


def test_duplicate_group_is_conflict(level):
    name = f"dup-{uid()}"
    level.groups.create(display_name=name)
    with pytest.raises(ResourceConflict) as err:
        level.groups.create(display_name=name)
    assert err.value.error_code == "SCIM_409"


def test_duplicate_service_principal_is_conflict(level):
    app = str(uuid.uuid4())
    level.service_principals.create(application_id=app, display_name=f"dup-{uid()}")
    with pytest.raises(ResourceConflict):
        level.service_principals.create(application_id=app, display_name=f"dup-{uid()}")


@databricks_strict
def test_conflict_messages_are_the_databricks_texts(level):
    """Terraform's `force` import matches these texts exactly (reference 2.12). The SDK renders the message as
    f"{scimType} {detail}" (databricks-sdk 0.156.0): a conflict's scimType is "uniqueness" (RFC 7644 §3.3), except
    with --databricks-strict, where it is absent as in Databricks, and the SDK shows the exact text (after "None ")."""
    name = email("text")
    level.users.create(user_name=name)
    with pytest.raises(ResourceConflict) as user:
        level.users.create(user_name=name)
    expected = (
        f"User with email {name} already exists in this account"
        if level.is_account
        else f"User with username {name} already exists."
    )
    assert str(user.value).startswith("None " if DATABRICKS_STRICT else "uniqueness "), str(user.value)
    assert message(user.value).startswith(expected), str(user.value)

    group = f"text-{uid()}"
    level.groups.create(display_name=group)
    with pytest.raises(ResourceConflict) as grp:
        level.groups.create(display_name=group)
    assert message(grp.value) == f"Group with name {group} already exists.", str(grp.value)


@pytest.mark.parametrize("kind", ["account", "workspace"])
def test_bad_token_is_unauthenticated(env, kind):
    bogus = "dapi" + "0" * 64
    client = env.clients.account(bogus, env.account1) if kind == "account" else env.clients.workspace(bogus, env.ws_fed)
    with pytest.raises(Unauthenticated) as err:
        next(iter(client.users.list()))
    assert err.value.error_code == "SCIM_401"


def test_expired_token_is_unauthenticated(env):
    token = env.server.create_token(env.account1, lifetime_seconds=1)
    client = env.clients.workspace(token, env.ws_fed)
    time.sleep(2.1)
    with pytest.raises(Unauthenticated):
        client.current_user.me()


def test_other_accounts_token_is_permission_denied(env):
    client = env.clients.account(env.token2, env.account1)
    with pytest.raises(PermissionDenied) as err:
        next(iter(client.users.list()))
    assert err.value.error_code == "SCIM_403"
    with pytest.raises(PermissionDenied):
        client.users.create(user_name=email("intruder"))


def test_workspace_token_on_account_api_is_permission_denied(env):
    client = env.clients.account(env.token_ws_nf, env.account1)
    with pytest.raises(PermissionDenied):
        next(iter(client.users.list()))


def test_account_token_on_other_accounts_workspace_is_permission_denied(env):
    client = env.clients.workspace(env.token1, env.ws2)
    with pytest.raises(PermissionDenied):
        next(iter(client.users.list()))
    with pytest.raises(PermissionDenied):
        client.current_user.me()


def test_non_admin_user_cannot_write(env, w_fed):
    user = w_fed.users.create(user_name=email("plain"))
    token = env.server.create_token(env.account1, workspace=env.ws_fed, principal=user.id)
    plain = env.clients.workspace(token, env.ws_fed)
    assert plain.current_user.me().id == user.id
    with pytest.raises(PermissionDenied):
        plain.users.create(user_name=email("by-plain"))
    with pytest.raises(PermissionDenied):
        plain.groups.create(display_name=f"by-plain-{uid()}", members=[cv(user.id)])


def test_non_admin_sees_only_basic_user_fields(env, w_fed):
    """Non-admins may GET users but only see userName/displayName/id (reference 2.5)."""
    other = w_fed.users.create(user_name=email("seen"), display_name="Seen", entitlements=[cv("allow-cluster-create")])
    user = w_fed.users.create(user_name=email("viewer"))
    token = env.server.create_token(env.account1, workspace=env.ws_fed, principal=user.id)
    got = env.clients.workspace(token, env.ws_fed).users.get(other.id)
    assert (got.id, got.user_name, got.display_name) == (other.id, other.user_name, "Seen")
    assert not got.entitlements


def test_non_account_admin_cannot_use_account_api(env, a1):
    user = a1.users.create(user_name=email("nonadmin"))
    token = env.server.create_token(env.account1, principal=user.id)
    with pytest.raises(PermissionDenied):
        env.clients.account(token, env.account1).users.create(user_name=email("by-nonadmin"))
