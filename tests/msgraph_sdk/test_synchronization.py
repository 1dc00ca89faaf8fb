"""Provisioning configuration through the SDK: the synchronization templates of the Databricks connector, a job made
from `dataBricks` (Entra's id shape, a new job's schedule and status), read, listed, its schedule patched, deleted;
the secrets written with `secrets.put` and read back masked."""

import json
import re
from datetime import timedelta

from helpers import DATABRICKS_SYNC_TEMPLATE, databricks_job, instantiate_databricks, odata_error, uid
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.synchronization_job import SynchronizationJob
from msgraph.generated.models.synchronization_schedule import SynchronizationSchedule
from msgraph.generated.models.synchronization_schedule_state import SynchronizationScheduleState
from msgraph.generated.models.synchronization_secret import SynchronizationSecret
from msgraph.generated.models.synchronization_secret_key_string_value_pair import (
    SynchronizationSecretKeyStringValuePair,
)
from msgraph.generated.models.synchronization_status_code import SynchronizationStatusCode
from msgraph.generated.service_principals.item.synchronization.secrets.secrets_put_request_body import (
    SecretsPutRequestBody,
)
from msgraph.generated.service_principals.item.synchronization.secrets.secrets_put_response import (
    SecretsPutResponse,
)

GUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def pair(key: SynchronizationSecret, value: str) -> SynchronizationSecretKeyStringValuePair:
    return SynchronizationSecretKeyStringValuePair(key=key, value=value)


def shown(pairs) -> dict:
    return {p.key.value: p.value for p in pairs or []}


async def test_the_connector_has_its_synchronization_template(graph):
    sp = (await instantiate_databricks(graph, f"Databricks {uid()}")).service_principal
    templates = await graph.service_principals.by_service_principal_id(sp.id).synchronization.templates.get()
    assert [t.id for t in templates.value] == [DATABRICKS_SYNC_TEMPLATE]
    template = templates.value[0]
    assert str(template.application_id) == sp.app_id
    rules = template.schema.synchronization_rules
    mapped = {(m.source_object_name, m.target_object_name) for r in rules for m in r.object_mappings}
    assert mapped == {("User", "User"), ("Group", "Group")}


async def test_a_job_is_made_from_the_template_read_rescheduled_and_deleted(graph, server):
    sp, job = await databricks_job(graph)
    tenant = server.tenant_id.replace("-", "")
    assert re.fullmatch(rf"{DATABRICKS_SYNC_TEMPLATE}\.{tenant}\.{GUID}", job.id), job.id
    # A new job: never run, disabled, with .NET's TimeSpan.MaxValue as its interval.
    assert (job.template_id, job.status.code, job.schedule.state) == (
        DATABRICKS_SYNC_TEMPLATE, SynchronizationStatusCode.NotConfigured, SynchronizationScheduleState.Disabled)
    assert job.schedule.interval > timedelta(days=10_000_000)

    jobs = graph.service_principals.by_service_principal_id(sp.id).synchronization.jobs
    read = await jobs.by_synchronization_job_id(job.id).get()
    assert (read.id, read.template_id, read.status.code) == (job.id, job.template_id, job.status.code)
    assert [j.id for j in (await jobs.get()).value] == [job.id]
    await odata_error(jobs.post(SynchronizationJob(template_id=DATABRICKS_SYNC_TEMPLATE)), 400, "Request_BadRequest")
    await odata_error(jobs.post(SynchronizationJob(template_id="scim")), 400, "Request_BadRequest", "dataBricks")

    # The SDK writes a timedelta as Python prints it ("0:20:00"); it reads back as the same timedelta.
    await jobs.by_synchronization_job_id(job.id).patch(
        SynchronizationJob(schedule=SynchronizationSchedule(interval=timedelta(minutes=20))))
    assert (await jobs.by_synchronization_job_id(job.id).get()).schedule.interval == timedelta(minutes=20)
    await jobs.by_synchronization_job_id(job.id).patch(
        SynchronizationJob(schedule=SynchronizationSchedule(interval=timedelta(days=1, hours=2))))
    assert (await jobs.by_synchronization_job_id(job.id).get()).schedule.interval == timedelta(days=1, hours=2)
    await odata_error(
        jobs.by_synchronization_job_id(job.id).patch(
            SynchronizationJob(schedule=SynchronizationSchedule(interval=timedelta(0)))),
        400, "Request_BadRequest", "interval")

    await jobs.by_synchronization_job_id(job.id).delete()
    await odata_error(jobs.by_synchronization_job_id(job.id).get(), 404, "Request_ResourceNotFound")
    assert (await jobs.get()).value == []


async def test_secrets_are_put_and_read_back_masked(graph, graph_base):
    sp = (await instantiate_databricks(graph, f"Databricks {uid()}")).service_principal
    synchronization = graph.service_principals.by_service_principal_id(sp.id).synchronization
    tenant_url = "https://adb-1234567890123456.7.azuredatabricks.net/api/2.0/preview/scim"
    notifications = json.dumps({"Enabled": True, "Recipients": "ops@contoso.com", "DeleteThresholdEnabled": True,
                                "DeleteThresholdValue": 500})
    await synchronization.secrets.put(SecretsPutRequestBody(value=[
        pair(SynchronizationSecret.BaseAddress, tenant_url),
        pair(SynchronizationSecret.SecretToken, "dapi-not-for-your-eyes"),
        pair(SynchronizationSecret.SyncAll, "false"),
        pair(SynchronizationSecret.SyncNotificationSettings, notifications),
    ]))
    expected = {"BaseAddress": tenant_url, "SecretToken": "*", "SyncAll": "false",
                "SyncNotificationSettings": notifications}

    # What the SDK offers to read them: the synchronization entity, whose `secrets` are masked.
    assert shown((await synchronization.get()).secrets) == expected

    # Terraform's azuread provider reads GET .../synchronization/secrets, for which the SDK generates no method (only
    # put): the same request through the SDK's own adapter (its auth and middleware), parsed into the SDK's model.
    info = RequestInformation(Method.GET, "{+baseurl}/servicePrincipals/{id}/synchronization/secrets",
                              {"baseurl": graph_base, "id": sp.id})
    info.headers.try_add("Accept", "application/json")
    read = await graph.request_adapter.send_async(info, SecretsPutResponse, {"XXX": ODataError})
    assert shown(read.value) == expected

    # A put merges by key; an empty value removes a key (how Terraform deletes).
    await synchronization.secrets.put(SecretsPutRequestBody(value=[
        pair(SynchronizationSecret.SyncAll, ""), pair(SynchronizationSecret.SecretToken, "dapi-rotated")]))
    assert shown((await synchronization.get()).secrets) == {k: v for k, v in expected.items() if k != "SyncAll"}
    await odata_error(
        synchronization.secrets.put(SecretsPutRequestBody(value=[pair(SynchronizationSecret.SyncAll, "maybe")])),
        400, "Request_BadRequest", "SyncAll")
