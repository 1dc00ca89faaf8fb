"""Failures as the SDK surfaces them: an ODataError with the response's status, Graph's `error.code` and a message
that says what is wrong, and the request's id in `innerError` (the id idplane logs the request under)."""

import uuid

from helpers import new_user, odata_error, upn
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.user import User
from msgraph.generated.users.users_request_builder import UsersRequestBuilder


def request_id_header(e) -> str:
    headers = {name.lower(): value for name, value in (e.response_headers or {}).items()}
    value = headers.get("x-request-id", "")
    return value if isinstance(value, str) else ",".join(value)


async def test_a_missing_user_is_a_404_that_names_it(graph):
    missing = str(uuid.uuid4())
    e = await odata_error(graph.users.by_user_id(missing).get(), 404, "Request_ResourceNotFound", missing)
    assert e.error.inner_error.request_id == request_id_header(e)
    assert e.error.inner_error.date is not None


async def test_a_duplicate_user_principal_name_is_a_400(graph):
    ann = await new_user(graph, "ann")
    twin = User(display_name="Twin", mail_nickname="twin", account_enabled=True,
                user_principal_name=ann.user_principal_name.upper())
    await odata_error(graph.users.post(twin), 400, "Request_BadRequest", "userPrincipalName")
    await odata_error(graph.users.post(User(display_name="No name")), 400, "Request_BadRequest", "userPrincipalName")


async def test_a_bad_token_is_a_401_and_a_workspace_token_a_403(graph_as, server):
    await odata_error(graph_as("dapi-not-a-token").users.get(), 401, "InvalidAuthenticationToken")
    workspace_admin = server.create_token(server.account_id, workspace=server.workspace_id, comment="graph 403")
    await odata_error(graph_as(workspace_admin).users.get(), 403, "Authorization_RequestDenied", "account")


async def test_the_client_request_id_a_caller_sends_comes_back(graph):
    # The SDK adds client-request-id only for Microsoft's hosts; a caller may send its own.
    mine = str(uuid.uuid4())
    config = RequestConfiguration()
    config.headers.add("client-request-id", mine)
    e = await odata_error(graph.users.by_user_id(upn("nobody")).get(config), 404, "Request_ResourceNotFound")
    assert e.error.inner_error.client_request_id == mine


async def test_a_query_idplane_does_not_serve_is_refused_not_ignored(graph):
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(orderby=["displayName"])
    await odata_error(graph.users.get(RequestConfiguration(query_parameters=query)), 400,
                      "Request_UnsupportedQuery", "$orderby")
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(filter="department eq 'Sales'")
    await odata_error(graph.users.get(RequestConfiguration(query_parameters=query)), 400,
                      "Request_UnsupportedQuery", "department")
