"""Test Connection (`validateCredentials`) through the SDK, against the live identity service of the same server:
its account SCIM API (`/api/2.1/accounts/<id>/scim/v2`, an account SCIM token from `idplane token rotate-scim`)
and its workspace SCIM API (`/api/2.0/preview/scim`, a workspace admin token from `idplane token create`), as an
admin would point Entra at Azure Databricks; a wrong token; a port where nothing listens."""

import socket
import time

import pytest
from helpers import DATABRICKS_SYNC_TEMPLATE, databricks_job, odata_error
from msgraph.generated.models.synchronization_secret import SynchronizationSecret
from msgraph.generated.models.synchronization_secret_key_string_value_pair import (
    SynchronizationSecretKeyStringValuePair,
)
from msgraph.generated.service_principals.item.synchronization.jobs.item.validate_credentials.validate_credentials_post_request_body import (  # noqa: E501
    ValidateCredentialsPostRequestBody,
)
from msgraph.generated.service_principals.item.synchronization.jobs.validate_credentials.validate_credentials_post_request_body import (  # noqa: E501
    ValidateCredentialsPostRequestBody as ValidateNewCredentialsPostRequestBody,
)
from msgraph.generated.service_principals.item.synchronization.secrets.secrets_put_request_body import (
    SecretsPutRequestBody,
)

# Test Connection against a dead port must fail at once (connection refused), not after a timeout: a generous
# bound that still catches a client waiting out its deadline.
REFUSED_WITHIN_SECONDS = 10


def credentials(tenant_url: str, token: str):
    return [SynchronizationSecretKeyStringValuePair(key=SynchronizationSecret.BaseAddress, value=tenant_url),
            SynchronizationSecretKeyStringValuePair(key=SynchronizationSecret.SecretToken, value=token)]


def given(tenant_url: str, token: str) -> ValidateCredentialsPostRequestBody:
    return ValidateCredentialsPostRequestBody(use_saved_credentials=False, credentials=credentials(tenant_url, token))


@pytest.fixture(scope="module")
def account_scim(server):
    """The account SCIM URL the Databricks console shows, and an account SCIM token for it."""
    token = server.cli("token", "rotate-scim", "--account", server.account_id)["token_value"]
    return f"{server.origin}/api/2.1/accounts/{server.account_id}/scim/v2", token


@pytest.fixture(scope="module")
def workspace_scim(server):
    """A workspace's SCIM URL, as Entra's Databricks tutorial writes it, and a workspace admin token."""
    token = server.create_token(server.account_id, workspace=server.workspace_id, comment="msgraph-sdk Test Connection")
    return f"{server.origin}/api/2.0/preview/scim", token


@pytest.fixture
async def job(graph):
    sp, job = await databricks_job(graph)
    synchronization = graph.service_principals.by_service_principal_id(sp.id).synchronization
    return synchronization, synchronization.jobs.by_synchronization_job_id(job.id)


async def test_the_account_scim_api_of_the_same_server_validates(job, account_scim):
    _, this = job
    assert await this.validate_credentials.post(given(*account_scim)) is None


async def test_a_workspace_scim_api_of_the_same_server_validates(job, workspace_scim):
    _, this = job
    assert await this.validate_credentials.post(given(*workspace_scim)) is None


async def test_a_wrong_token_fails_with_the_targets_401_in_the_message(job, account_scim):
    _, this = job
    url, _ = account_scim
    e = await odata_error(this.validate_credentials.post(given(url, "dapi-wrong-token")), 400,
                          "SystemForCrossDomainIdentityManagementCredentialValidationFailure", "401", url)
    assert "dapi-wrong-token" not in e.error.message, "the token is never echoed"


async def test_a_port_where_nothing_listens_fails_fast_and_says_so(job):
    _, this = job
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    await odata_error(this.validate_credentials.post(given(f"http://127.0.0.1:{port}/scim", "dapi-any")), 400,
                      "SystemForCrossDomainIdentityManagementCredentialValidationUnavailable", "refused")
    assert time.monotonic() - started < REFUSED_WITHIN_SECONDS


async def test_saved_credentials_validate_before_and_after_a_job_exists(job, account_scim):
    synchronization, this = job
    await synchronization.secrets.put(SecretsPutRequestBody(value=credentials(*account_scim)))
    assert await this.validate_credentials.post(ValidateCredentialsPostRequestBody(use_saved_credentials=True)) is None
    # The collection-level action, which the portal calls before a job is created.
    before_a_job = ValidateNewCredentialsPostRequestBody(template_id=DATABRICKS_SYNC_TEMPLATE, use_saved_credentials=True)
    assert await synchronization.jobs.validate_credentials.post(before_a_job) is None
    # Credentials given in the request win over the saved ones.
    await odata_error(this.validate_credentials.post(given(account_scim[0], "dapi-wrong-token")), 400,
                      "SystemForCrossDomainIdentityManagementCredentialValidationFailure")
