"""Running a provisioning job through the SDK, against the live identity service of the same server (its account
SCIM API, an account SCIM token): provision on demand (the answer's key and value as JSON, every step, and its
records in the provisioning logs, read through the SDK's models), start (the
server's scheduler runs the first cycle; the job's status says so), pause, restart with a reset scope, and the
target checked through its SCIM API."""

import asyncio
import json
import urllib.request

import pytest
from helpers import databricks_job, new_user, uid
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.audit_logs.provisioning.provisioning_request_builder import ProvisioningRequestBuilder
from msgraph.generated.models.synchronization_job_application_parameters import (
    SynchronizationJobApplicationParameters,
)
from msgraph.generated.models.synchronization_job_restart_criteria import SynchronizationJobRestartCriteria
from msgraph.generated.models.synchronization_job_restart_scope import SynchronizationJobRestartScope
from msgraph.generated.models.synchronization_job_subject import SynchronizationJobSubject
from msgraph.generated.models.synchronization_secret import SynchronizationSecret
from msgraph.generated.models.synchronization_secret_key_string_value_pair import (
    SynchronizationSecretKeyStringValuePair,
)
from msgraph.generated.models.synchronization_status_code import SynchronizationStatusCode
from msgraph.generated.models.app_role_assignment import AppRoleAssignment
from msgraph.generated.service_principals.item.synchronization.jobs.item.provision_on_demand.provision_on_demand_post_request_body import (  # noqa: E501
    ProvisionOnDemandPostRequestBody,
)
from msgraph.generated.service_principals.item.synchronization.jobs.item.restart.restart_post_request_body import (
    RestartPostRequestBody,
)
from msgraph.generated.service_principals.item.synchronization.secrets.secrets_put_request_body import (
    SecretsPutRequestBody,
)

DEFAULT_ACCESS = "00000000-0000-0000-0000-000000000000"
# The server's scheduler looks for due jobs every second: a first cycle of one user ends well within this.
CYCLE_WITHIN_SECONDS = 60


@pytest.fixture(scope="module")
def target(server):
    """The account SCIM URL of the same server, an account SCIM token, and a reader of the target's users."""
    token = server.cli("token", "rotate-scim", "--account", server.account_id)["token_value"]
    url = f"{server.origin}/api/2.1/accounts/{server.account_id}/scim/v2"

    def user(user_name: str):
        query = urllib.request.quote(f'userName eq "{user_name}"')
        request = urllib.request.Request(f"{url}/Users?filter={query}", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as r:
            resources = json.load(r).get("Resources", [])
        return resources[0] if resources else None

    return url, token, user


@pytest.fixture
async def job(graph, target):
    url, token, _ = target
    sp, job = await databricks_job(graph)
    synchronization = graph.service_principals.by_service_principal_id(sp.id).synchronization
    await synchronization.secrets.put(SecretsPutRequestBody(value=[
        SynchronizationSecretKeyStringValuePair(key=SynchronizationSecret.BaseAddress, value=url),
        SynchronizationSecretKeyStringValuePair(key=SynchronizationSecret.SecretToken, value=token)]))
    return sp, synchronization.jobs.by_synchronization_job_id(job.id)


async def assigned_user(graph, sp):
    user = await new_user(graph, "prov", given_name="Pat", surname=uid())
    await graph.service_principals.by_service_principal_id(sp.id).app_role_assigned_to.post(
        AppRoleAssignment(principal_id=user.id, resource_id=sp.id, app_role_id=DEFAULT_ACCESS))
    return user


async def test_provision_on_demand_answers_every_step_and_then_redundant_export(graph, job, target):
    sp, job_api = job
    user = await assigned_user(graph, sp)
    schema = await job_api.schema.get()
    body = ProvisionOnDemandPostRequestBody(parameters=[SynchronizationJobApplicationParameters(
        rule_id=schema.synchronization_rules[0].id,
        subjects=[SynchronizationJobSubject(object_id=user.id, object_type_name="User")])])
    answer = await job_api.provision_on_demand.post(body)
    key, value = json.loads(answer.key), json.loads(answer.value)
    assert key["result"] == "Success", (key, value)
    assert value["action"] == "Create"
    steps = [(s["type"], s["name"]) for s in value["provisioningSteps"]]
    assert ("Import", "EntryImport") in steps and ("Scoping", "EntrySynchronizationScoping") in steps, steps
    assert ("Export", "EntryExportAdd") in steps, steps
    assert value["sourceIdentity"]["id"] == user.id
    assert target[2](user.user_principal_name)["displayName"] == user.display_name

    again = await job_api.provision_on_demand.post(body)
    key = json.loads(again.key)
    assert (key["result"], key["details"]["errorCode"]) == ("Skipped", "RedundantExport"), key

    # Both runs are in the provisioning logs, read through the SDK's typed models, newest first.
    job_id = (await job_api.get()).id
    query = ProvisioningRequestBuilder.ProvisioningRequestBuilderGetQueryParameters(filter=f"jobId eq '{job_id}'")
    page = await graph.audit_logs.provisioning.get(RequestConfiguration(query_parameters=query))
    seen = [(r.provisioning_action.value, r.provisioning_status_info.status.value) for r in page.value]
    assert seen == [("other", "skipped"), ("create", "success")], seen
    created = page.value[1]
    assert created.source_identity.id == user.id and created.change_id == value["changeId"]
    assert "EntryExportAdd" in [s.name for s in created.provisioning_steps]
    assert {p.display_name for p in created.modified_properties} >= {"userName", "displayName"}


async def test_start_runs_a_cycle_then_pause_and_restart(graph, job, target):
    sp, job_api = job
    user = await assigned_user(graph, sp)
    await job_api.start.post()
    status = None
    for _ in range(CYCLE_WITHIN_SECONDS * 5):
        status = (await job_api.get()).status
        if status.last_execution is not None:
            break
        await asyncio.sleep(0.2)
    assert status.last_execution is not None, "no cycle ran after start"
    assert status.code == SynchronizationStatusCode.Active
    assert status.last_execution.state.value == "Succeeded"
    assert status.last_execution.count_exported == 1
    assert target[2](user.user_principal_name) is not None, "the cycle provisioned the assigned user"

    await job_api.pause.post()
    assert (await job_api.get()).status.code == SynchronizationStatusCode.Paused
    criteria = SynchronizationJobRestartCriteria(reset_scope=SynchronizationJobRestartScope.Full)
    await job_api.restart.post(RestartPostRequestBody(criteria=criteria))
    assert (await job_api.get()).status.code == SynchronizationStatusCode.Paused, "a restart does not start a paused job"
