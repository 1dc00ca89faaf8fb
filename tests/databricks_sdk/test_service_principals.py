"""service_principals: create, get, list with filter, update (PUT), patch, delete, at the account level and in both
workspaces; service_principals_v2 at both levels."""

import uuid

import pytest
from databricks.sdk.errors import NotFound
from databricks.sdk.service import iam

from helpers import PATCH_SCHEMA, REPLACE, ids, patch, uid


def test_create_get_delete(level):
    app = str(uuid.uuid4())
    name = f"sp-{uid()}"
    created = level.service_principals.create(
        application_id=app,
        display_name=name,
        active=True,
        schemas=[iam.ServicePrincipalSchema.URN_IETF_PARAMS_SCIM_SCHEMAS_CORE_2_0_SERVICE_PRINCIPAL],
    )
    assert created.id and created.id.isdigit() and 0 < int(created.id) < 2**63, created.id
    assert created.application_id == app
    assert created.display_name == name

    got = level.service_principals.get(created.id)
    assert (got.id, got.application_id, got.display_name, got.active) == (created.id, app, name, True)

    level.service_principals.delete(created.id)
    with pytest.raises(NotFound):
        level.service_principals.get(created.id)


def test_list_with_filters(level):
    app = str(uuid.uuid4())
    marker = uid()
    created = level.service_principals.create(application_id=app, display_name=f"etl-{marker}-sp")
    level.service_principals.create(application_id=str(uuid.uuid4()), display_name=f"other-{uid()}")
    assert ids(level.service_principals.list(filter=f'applicationId eq "{app}"')) == [created.id]
    assert ids(level.service_principals.list(filter=f'displayName co "{marker}"')) == [created.id]
    assert ids(level.service_principals.list(filter=f'displayName eq "etl-{marker}-sp"')) == [created.id]
    assert ids(level.service_principals.list(filter=f'id eq "{created.id}"')) == [created.id]


def test_update_replaces(level):
    app = str(uuid.uuid4())
    created = level.service_principals.create(application_id=app, display_name=f"before-{uid()}")
    after = f"after-{uid()}"
    level.service_principals.update(created.id, application_id=app, display_name=after, active=False)
    got = level.service_principals.get(created.id)
    assert (got.application_id, got.display_name, got.active) == (app, after, False)


def test_create_minimal_is_active(level):
    created = level.service_principals.create(application_id=str(uuid.uuid4()), display_name=f"min-{uid()}")
    assert level.service_principals.get(created.id).active is True


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(patch(REPLACE, "active", "false"), id="string"),
        pytest.param(patch(REPLACE, "active", [{"value": "false"}]), id="list-wrapped-string"),
        pytest.param(patch(REPLACE, None, {"active": False}), id="path-less"),
    ],
)
def test_patch_deactivate(level, operation):
    created = level.service_principals.create(application_id=str(uuid.uuid4()), display_name=f"act-{uid()}")
    level.service_principals.patch(created.id, schemas=PATCH_SCHEMA, operations=[operation])
    assert level.service_principals.get(created.id).active is False
    level.service_principals.patch(created.id, schemas=PATCH_SCHEMA, operations=[patch(REPLACE, "active", True)])
    assert level.service_principals.get(created.id).active is True


def test_patch_display_name(level):
    created = level.service_principals.create(application_id=str(uuid.uuid4()), display_name=f"old-{uid()}")
    new = f"new-{uid()}"
    level.service_principals.patch(created.id, operations=[patch(REPLACE, "displayName", new)])
    assert level.service_principals.get(created.id).display_name == new


@pytest.mark.parametrize("kind", ["account", "workspace"])
def test_service_principals_v2(kind, a1, w_fed):
    sps = a1.service_principals_v2 if kind == "account" else w_fed.service_principals_v2
    app = str(uuid.uuid4())
    created = sps.create(application_id=app, display_name=f"v2-{uid()}", active=True)
    assert created.id and created.application_id == app
    assert sps.get(created.id).application_id == app
    assert ids(sps.list(filter=f'applicationId eq "{app}"')) == [created.id]
    sps.patch(created.id, schemas=PATCH_SCHEMA, operations=[patch(REPLACE, "active", "false")])
    assert sps.get(created.id).active is False
    renamed = f"v2r-{uid()}"
    sps.update(created.id, application_id=app, display_name=renamed, active=True)
    got = sps.get(created.id)
    assert got.display_name == renamed and got.active is True
    sps.delete(created.id)
    with pytest.raises(NotFound):
        sps.get(created.id)
