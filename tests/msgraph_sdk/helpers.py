"""Shared helpers of the msgraph-sdk acceptance suite: unique names, directory builders, Graph errors."""

import uuid
from typing import Awaitable, Iterable, List, Optional, Tuple

import pytest
from msgraph import GraphServiceClient
from msgraph.generated.application_templates.item.instantiate.instantiate_post_request_body import (
    InstantiatePostRequestBody,
)
from msgraph.generated.models.application_service_principal import ApplicationServicePrincipal
from msgraph.generated.models.group import Group
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.models.synchronization_job import SynchronizationJob
from msgraph.generated.models.user import User

# The Databricks connector in the application gallery (GET /applicationTemplates), and its synchronization template.
DATABRICKS_APP_TEMPLATE = "9c9818d2-2900-49e8-8ba4-22688be7c675"
DATABRICKS_SYNC_TEMPLATE = "dataBricks"
# The app role of "default access", for applications that declare no roles.
DEFAULT_ACCESS = uuid.UUID("00000000-0000-0000-0000-000000000000")


def uid() -> str:
    """A short unique suffix for names, so that tests never collide."""
    return uuid.uuid4().hex[:12]


def upn(prefix: str = "u") -> str:
    return f"{prefix}-{uid()}@contoso.com"


def directory_object(graph_base: str, object_id: str) -> str:
    """The `@odata.id` of a directory object, as the SDK docs write references."""
    return f"{graph_base}/directoryObjects/{object_id}"


async def new_user(graph: GraphServiceClient, prefix: str = "u", **properties) -> User:
    """A user as Graph's create-user sample makes one (passwordProfile included: idplane accepts it and drops it)."""
    name = upn(prefix)
    user = User(
        account_enabled=True,
        display_name=properties.pop("display_name", name.split("@")[0]),
        mail_nickname=name.split("@")[0],
        user_principal_name=name,
        password_profile=PasswordProfile(force_change_password_next_sign_in=True, password="xWwvJ]6NMw+bWH-d"),
        **properties,
    )
    created = await graph.users.post(user)
    assert created is not None and created.id, created
    return created


async def new_group(graph: GraphServiceClient, graph_base: str, prefix: str = "g", security: bool = True,
                    members: Iterable[str] = ()) -> Group:
    """A security group (or a Microsoft 365 group), with members bound at creation (`members@odata.bind`)."""
    name = f"{prefix}-{uid()}"
    binds = [directory_object(graph_base, m) for m in members]
    group = Group(
        display_name=name,
        mail_nickname=name,
        mail_enabled=not security,
        security_enabled=security,
        group_types=[] if security else ["Unified"],
        additional_data={"members@odata.bind": binds} if binds else {},
    )
    created = await graph.groups.post(group)
    assert created is not None and created.id, created
    return created


async def add_member(graph: GraphServiceClient, graph_base: str, group_id: str, member_id: str) -> None:
    await graph.groups.by_group_id(group_id).members.ref.post(
        ReferenceCreate(odata_id=directory_object(graph_base, member_id))
    )


async def instantiate_databricks(graph: GraphServiceClient, name: str) -> ApplicationServicePrincipal:
    """An enterprise application from the gallery's Databricks connector: its application and service principal."""
    body = InstantiatePostRequestBody(display_name=name)
    return await graph.application_templates.by_application_template_id(DATABRICKS_APP_TEMPLATE).instantiate.post(body)


async def databricks_job(graph: GraphServiceClient) -> Tuple[ServicePrincipal, SynchronizationJob]:
    """A new Databricks enterprise application with its provisioning job (template `dataBricks`)."""
    sp = (await instantiate_databricks(graph, f"Databricks {uid()}")).service_principal
    jobs = graph.service_principals.by_service_principal_id(sp.id).synchronization.jobs
    job = await jobs.post(SynchronizationJob(template_id=DATABRICKS_SYNC_TEMPLATE))
    assert job is not None and job.id, job
    return sp, job


def ids(items: Optional[Iterable]) -> List[str]:
    return [item.id for item in items or []]


async def odata_error(call: Awaitable, status: int, code: str, *message_parts: str) -> ODataError:
    """Awaits `call`, which must fail as Graph fails: an ODataError with this status and code, a message naming
    each of `message_parts`, and the request's id in innerError (what a support ticket quotes)."""
    with pytest.raises(ODataError) as caught:
        await call
    e = caught.value
    assert e.response_status_code == status, (e.response_status_code, e.error and e.error.message)
    assert e.error is not None, e
    assert e.error.code == code, (e.error.code, e.error.message)
    assert e.error.message, e.error
    for part in message_parts:
        assert part in e.error.message, (part, e.error.message)
    assert e.error.inner_error is not None and e.error.inner_error.request_id, e.error
    return e
