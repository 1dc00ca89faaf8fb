"""Fixtures of the databricks-sdk acceptance suite.

One idplane server per session: built once (or IDPLANE_BIN), started on a free port with a fresh store and a random
bootstrap token. The admin CLI then adds, on the same data directory, a second account, a second workspace in the
first account without identity federation, a workspace in the second account, and tokens for them. Tests talk to
the server only through the real databricks-sdk clients (PAT auth, explicit host/token/account_id/workspace_id).
"""

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

import pytest
from databricks.sdk import AccountClient, WorkspaceClient
from databricks.sdk.core import Config
from helpers import DATABRICKS_STRICT, uid

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from idplane_server import Server, idplane_binary, start  # noqa: E402 (after the path it is found on)

# Bounded so that a hanging or refusing server fails a test within seconds, not the SDK's default 300 s.
RETRY_TIMEOUT_SECONDS = 10
HTTP_TIMEOUT_SECONDS = 10


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "databricks_strict: where Databricks departs from the SCIM RFCs; also run against a server started with "
        "--databricks-strict (scripts/sdk-tests --databricks-strict), where Databricks' behaviour is expected",
    )


def new_token() -> str:
    return "dapi" + secrets.token_hex(32)


@pytest.fixture(scope="session", autouse=True)
def clean_environment(tmp_path_factory):
    """No ~/.databrickscfg, no DATABRICKS_*/ARM_*/cloud credentials from the developer's shell reach the SDK."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(("DATABRICKS", "ARM_", "AZURE_", "GOOGLE_")):
                mp.delenv(name)
        mp.setenv("HOME", str(home))
        yield


@pytest.fixture(scope="session")
def idplane_bin() -> str:
    return idplane_binary()


@pytest.fixture(scope="session")
def server(idplane_bin, tmp_path_factory) -> Server:
    extra = ["--databricks-strict"] if DATABRICKS_STRICT else []
    started = start(idplane_bin, tmp_path_factory.mktemp("idplane"), new_token(), extra)
    try:
        yield started
    finally:
        started.stop()


class Clients:
    """Builds SDK clients against the server; every client is explicit about host, token, account and workspace."""

    def __init__(self, origin: str):
        self.origin = origin

    def workspace(self, token: str, workspace_id: Optional[int]) -> WorkspaceClient:
        cfg = Config(
            host=self.origin,
            token=token,
            auth_type="pat",
            workspace_id=None if workspace_id is None else str(workspace_id),
            retry_timeout_seconds=RETRY_TIMEOUT_SECONDS,
            http_timeout_seconds=HTTP_TIMEOUT_SECONDS,
            product="idplane-sdk-tests",
            product_version="0.0.0",
        )
        return WorkspaceClient(config=cfg)

    def account(self, token: str, account_id: str) -> AccountClient:
        cfg = Config(
            host=self.origin,
            token=token,
            auth_type="pat",
            account_id=account_id,
            retry_timeout_seconds=RETRY_TIMEOUT_SECONDS,
            http_timeout_seconds=HTTP_TIMEOUT_SECONDS,
            product="idplane-sdk-tests",
            product_version="0.0.0",
        )
        return AccountClient(config=cfg)


@dataclass
class Env:
    """The tenants of the session.

    account1 (the default account): workspace ws_fed (default, identity federation) and ws_nf (no federation).
    account2: workspace ws2 (identity federation).
    """

    server: Server
    clients: Clients
    account1: str
    account2: str
    ws_fed: int
    ws_nf: int
    ws2: int
    token1: str  # bootstrap: account token of account1, principal `admin` (account admin, assigned to ws_fed)
    token1_service: str  # account token of account1 without a principal: an admin credential of account1
    token2: str  # account token of account2
    token_ws_fed: str  # workspace token of ws_fed
    token_ws_nf: str  # workspace token of ws_nf


@pytest.fixture(scope="session")
def env(server) -> Env:
    account2 = server.cli("account", "create", "--name", f"sdk-second-{uid()}")["account_id"]
    ws_nf = server.cli(
        "workspace", "create", "--account", server.account_id, "--name", f"sdk-nf-{uid()}", "--no-identity-federation"
    )["workspace_id"]
    ws2 = server.cli("workspace", "create", "--account", account2, "--name", f"sdk-a2-{uid()}")["workspace_id"]
    return Env(
        server=server,
        clients=Clients(server.origin),
        account1=server.account_id,
        account2=account2,
        ws_fed=server.workspace_id,
        ws_nf=int(ws_nf),
        ws2=int(ws2),
        token1=server.token,
        token1_service=server.create_token(server.account_id, comment="sdk-tests account1 service"),
        token2=server.create_token(account2, comment="sdk-tests account2"),
        token_ws_fed=server.create_token(server.account_id, workspace=server.workspace_id, comment="sdk-tests ws_fed"),
        token_ws_nf=server.create_token(server.account_id, workspace=ws_nf, comment="sdk-tests ws_nf"),
    )


@pytest.fixture(scope="session")
def a1(env) -> AccountClient:
    return env.clients.account(env.token1, env.account1)


@pytest.fixture(scope="session")
def a2(env) -> AccountClient:
    return env.clients.account(env.token2, env.account2)


@pytest.fixture(scope="session")
def w_fed(env) -> WorkspaceClient:
    """The default (identity-federated) workspace of account1, as the account admin `admin`."""
    return env.clients.workspace(env.token1, env.ws_fed)


@pytest.fixture(scope="session")
def w_nf(env) -> WorkspaceClient:
    """The workspace of account1 without identity federation, with a workspace token."""
    return env.clients.workspace(env.token_ws_nf, env.ws_nf)


@pytest.fixture(scope="session")
def w2(env) -> WorkspaceClient:
    """The workspace of account2, with account2's token."""
    return env.clients.workspace(env.token2, env.ws2)


@dataclass
class Level:
    """One SCIM scope as the SDK sees it: an AccountClient or a WorkspaceClient."""

    name: str
    client: object
    is_account: bool
    federated: bool

    @property
    def users(self):
        return self.client.users

    @property
    def groups(self):
        return self.client.groups

    @property
    def service_principals(self):
        return self.client.service_principals


LEVELS = ["account", "workspace", "workspace-nf"]


@pytest.fixture(params=LEVELS)
def level(request, a1, w_fed, w_nf) -> Level:
    """Each SCIM test runs at the account level (account1), in the federated workspace and in the other one."""
    return {
        "account": Level("account", a1, is_account=True, federated=True),
        "workspace": Level("workspace", w_fed, is_account=False, federated=True),
        "workspace-nf": Level("workspace-nf", w_nf, is_account=False, federated=False),
    }[request.param]


@pytest.fixture(params=["workspace", "workspace-nf"])
def ws_level(request, w_fed, w_nf) -> Level:
    """Workspace-only behaviour (entitlements), in both workspaces."""
    return {
        "workspace": Level("workspace", w_fed, is_account=False, federated=True),
        "workspace-nf": Level("workspace-nf", w_nf, is_account=False, federated=False),
    }[request.param]


@dataclass
class Call:
    method: str
    path: str
    query: dict
    body: object


class Recorder:
    """Records the requests an SDK client makes (method, path, query, body) by wrapping its ApiClient.do."""

    def __init__(self):
        self.calls: List[Call] = []

    def wrap(self, do: Callable) -> Callable:
        def recording_do(method, path=None, *args, **kwargs):
            self.calls.append(Call(method, path, dict(kwargs.get("query") or {}), kwargs.get("body")))
            return do(method, path, *args, **kwargs)

        return recording_do

    def gets(self, path_suffix: str) -> List[Call]:
        return [c for c in self.calls if c.method == "GET" and c.path.endswith(path_suffix)]


@pytest.fixture
def record(monkeypatch):
    """record(client) starts recording that client's requests until the end of the test."""

    def start(client) -> Recorder:
        recorder = Recorder()
        api = client.api_client
        monkeypatch.setattr(api, "do", recorder.wrap(api.do))
        return recorder

    return start
