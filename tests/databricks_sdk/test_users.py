"""users: create, get, list with filter, update (PUT), patch, delete, at the account level and in both workspaces;
users_v2 at both levels."""

import pytest
from databricks.sdk.errors import NotFound
from databricks.sdk.service import iam

from helpers import DATABRICKS_STRICT, PATCH_SCHEMA, REPLACE, cv, databricks_strict, email, ids, patch


def test_create_get_delete(level):
    name = email("ada")
    created = level.users.create(
        user_name=name,
        display_name="Ada Lovelace",
        name=iam.Name(given_name="Ada", family_name="Lovelace"),
        emails=[cv(name, type="work", primary=True)],
        active=True,
        schemas=[iam.UserSchema.URN_IETF_PARAMS_SCIM_SCHEMAS_CORE_2_0_USER],
    )
    assert created.id and created.id.isdigit() and 0 < int(created.id) < 2**63, created.id
    assert created.user_name == name
    assert created.display_name == "Ada Lovelace"

    got = level.users.get(created.id)
    assert got.id == created.id
    assert got.user_name == name
    assert got.display_name == "Ada Lovelace"
    assert got.name.given_name == "Ada" and got.name.family_name == "Lovelace"
    assert [e.value for e in got.emails] == [name]
    assert got.active is True

    level.users.delete(created.id)
    with pytest.raises(NotFound):
        level.users.get(created.id)


def test_create_minimal_is_active(level):
    """The SDK sends no defaults: a create with only userName must yield an active user."""
    name = email("min")
    created = level.users.create(user_name=name)
    assert level.users.get(created.id).active is True
    assert ids(level.users.list(filter=f'userName eq "{name}" and active eq true')) == [created.id]


def test_get_with_attributes_and_excluded_attributes(level):
    name = email("attr")
    created = level.users.create(user_name=name, display_name="Attr User")
    only = level.users.get(created.id, attributes="userName")
    assert only.id == created.id
    assert only.user_name == name
    assert only.display_name is None

    without = level.users.get(created.id, excluded_attributes="displayName")
    assert without.user_name == name
    assert without.display_name is None


def test_list_with_filter(level):
    name = email("find")
    created = level.users.create(user_name=name, display_name="Find Me")
    level.users.create(user_name=email("other"))
    found = list(level.users.list(filter=f'userName eq "{name}"'))
    assert ids(found) == [created.id]
    assert found[0].user_name == name
    assert found[0].display_name == "Find Me"


def test_list_contains_created(level):
    created = level.users.create(user_name=email("all"))
    assert created.id in ids(level.users.list(attributes="id"))


def test_update_replaces(level):
    name = email("put")
    created = level.users.create(
        user_name=name, display_name="Before", name=iam.Name(given_name="B", family_name="Fore"), active=True
    )
    level.users.update(
        created.id,
        user_name=name,
        display_name="After",
        name=iam.Name(given_name="A", family_name="Fter"),
        active=False,
    )
    got = level.users.get(created.id)
    assert got.user_name == name
    assert got.active is False
    assert got.name.given_name == "A" and got.name.family_name == "Fter"


@databricks_strict
def test_update_ignores_user_name_change(level):
    """Databricks ignores a userName change on PUT and PATCH (reference 2.5, 10.8); RFC 7644 applies it: idplane does
    the first with --databricks-strict, the second by default."""
    name = email("immutable")
    renamed = email("renamed")
    created = level.users.create(user_name=name)
    level.users.update(created.id, user_name=renamed, display_name="updated")
    got = level.users.get(created.id)
    assert got.user_name == (name if DATABRICKS_STRICT else renamed)
    assert got.display_name == "updated", "the rest of the request applies"


def test_patch_replace_display_name(level):
    created = level.users.create(user_name=email("pdn"), display_name="Old")
    level.users.patch(
        created.id, schemas=PATCH_SCHEMA, operations=[patch(REPLACE, "displayName", "New")]
    )
    assert level.users.get(created.id).display_name == "New"


def test_patch_without_schemas(level):
    """The Python SDK sends `schemas` only if the caller passes it."""
    created = level.users.create(user_name=email("nos"), display_name="Old")
    level.users.patch(created.id, operations=[patch(REPLACE, "displayName", "New")])
    assert level.users.get(created.id).display_name == "New"


def test_delete_twice_is_not_found(level):
    created = level.users.create(user_name=email("del"))
    level.users.delete(created.id)
    with pytest.raises(NotFound):
        level.users.delete(created.id)


@pytest.mark.parametrize("kind", ["account", "workspace"])
def test_users_v2(kind, a1, w_fed):
    """The newer *_v2 services hit the same paths and parse the account models at account level."""
    users = a1.users_v2 if kind == "account" else w_fed.users_v2
    name = email("v2")
    created = users.create(user_name=name, display_name="V Two", active=True)
    assert created.id and created.user_name == name
    assert users.get(created.id).display_name == "V Two"
    assert ids(users.list(filter=f'userName eq "{name}"')) == [created.id]
    users.patch(created.id, schemas=PATCH_SCHEMA, operations=[patch(REPLACE, "displayName", "V 2")])
    assert users.get(created.id).display_name == "V 2"
    users.update(created.id, user_name=name, display_name="V II", active=False)
    got = users.get(created.id)
    assert got.display_name == "V II" and got.active is False
    users.delete(created.id)
    with pytest.raises(NotFound):
        users.get(created.id)
