"""Fixtures of the msgraph-sdk acceptance suite.

One idplane server per session (tests/idplane_server.py): built once (or IDPLANE_BIN), started on a free port with a
fresh store and a random bootstrap token, which administers the tenant the banner's `Graph API:` line names. Tests
talk to its Graph API (`/v1.0`) through the real `GraphServiceClient`, wired as Microsoft's SDK is wired to any
Graph-compatible service: a `GraphRequestAdapter` over a `BaseBearerTokenAuthenticationProvider` whose token
provider returns a fixed token, with the adapter's `base_url` set before the client is built.
"""

import secrets
import sys
from pathlib import Path
from typing import Callable

import pytest
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from idplane_server import Server, idplane_binary, no_proxy, start  # noqa: E402, F401 (after the path it is found on; no_proxy is a fixture)


class StaticToken(AccessTokenProvider):
    """A token provider that always answers the same bearer token, for any host (idplane listens on 127.0.0.1)."""

    def __init__(self, token: str):
        self._token = token

    async def get_authorization_token(self, uri: str, additional_authentication_context=None) -> str:
        return self._token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return AllowedHostsValidator([])


def graph_client(base_url: str, token: str) -> GraphServiceClient:
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken(token)))
    # Before the client is built: GraphServiceClient puts graph.microsoft.com in an adapter without a base URL.
    adapter.base_url = base_url
    return GraphServiceClient(request_adapter=adapter)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    started = start(idplane_binary(), tmp_path_factory.mktemp("idplane"), "dapi" + secrets.token_hex(32))
    try:
        if started.tenant_id is None:
            pytest.fail("the banner names no Graph API tenant: this server has no provisioning service")
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def graph_base(server) -> str:
    return f"{server.origin}/v1.0"


@pytest.fixture(scope="session")
def graph(server, graph_base) -> GraphServiceClient:
    """The SDK as the tenant's administrator: the admin token of the banner."""
    return graph_client(graph_base, server.token)


@pytest.fixture(scope="session")
def graph_as(graph_base) -> Callable[[str], GraphServiceClient]:
    """graph_as(token): the SDK with another bearer token."""
    return lambda token: graph_client(graph_base, token)
