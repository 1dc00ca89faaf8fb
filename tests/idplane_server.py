"""A real idplane server for the Python acceptance suites (tests/databricks_sdk, tests/msgraph_sdk).

The binary is built once (`cargo build --locked`) unless IDPLANE_BIN names one; `start` runs `idplane serve` on
127.0.0.1:0 with a fresh data directory and a bootstrap token of the caller's, waits for the first-start banner and
reads from it the origin, the default account and workspace, and the Graph API's tenant. The admin CLI then works
on the same store (`Server.cli`): the embedded store of the data directory, or the PostgreSQL database that
IDPLANE_DATABASE_URL names, which is passed through to the server and the CLI.
"""

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import pytest

REPO = Path(__file__).resolve().parents[1]

# The environment as pytest found it, for cargo and the server (cargo and rustup find their homes through HOME).
ORIGINAL_ENV = dict(os.environ)

# The server's settings the run chooses: serving HTTPS, and the store (scripts/test runs the suites over HTTPS, over
# HTTP, and on PostgreSQL).
PASSED_THROUGH = ("IDPLANE_TLS_CERT", "IDPLANE_TLS_KEY", "IDPLANE_DATABASE_URL")

# How long the first start (migrations, bootstrap) may take before the suite gives up.
START_TIMEOUT_SECONDS = 30


@pytest.fixture(scope="session", autouse=True)
def no_proxy():
    """No proxy from the developer's shell stands between the clients (httpx and Playwright's browser trust the
    environment) and 127.0.0.1. A suite uses it by importing it into its conftest.py."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            mp.delenv(name, raising=False)
            mp.delenv(name.lower(), raising=False)
        yield


def server_env(**extra: str) -> dict:
    env = {k: v for k, v in ORIGINAL_ENV.items() if not k.startswith("IDPLANE_") or k in PASSED_THROUGH}
    env.update(extra)
    return env


def idplane_binary() -> str:
    """IDPLANE_BIN, or the debug binary of this checkout, built now."""
    configured = os.environ.get("IDPLANE_BIN")
    if configured:
        return str(Path(configured).resolve())
    subprocess.run(
        ["cargo", "build", "--locked", "--quiet", "--bin", "idplane"], cwd=REPO, check=True, env=ORIGINAL_ENV
    )
    return str(REPO / "target" / "debug" / "idplane")


@dataclass
class Server:
    bin: str
    data_dir: Path
    origin: str
    account_id: str
    workspace_id: int
    tenant_id: Optional[str]
    # Where the banner says the data is: "PostgreSQL", or the embedded store's directory.
    store: str
    token: str
    log: Path
    process: subprocess.Popen = field(repr=False)

    def cli(self, *args: str) -> dict:
        """Runs an admin command (`idplane account create ...`) on the server's data directory; returns its JSON."""
        command = [self.bin, *args, "--json", "--data-dir", str(self.data_dir)]
        out = subprocess.run(command, capture_output=True, text=True, env=server_env(), timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
        return json.loads(out.stdout)

    def create_token(self, account: str, workspace: Optional[int] = None, principal: Optional[str] = None,
                     **extra: str) -> str:
        args = ["token", "create", "--account", account]
        if workspace is not None:
            args += ["--workspace", str(workspace)]
        if principal is not None:
            args += ["--principal", str(principal)]
        for key, value in extra.items():
            args += ["--" + key.replace("_", "-"), str(value)]
        return self.cli(*args)["token_value"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(bin: str, work: Path, token: str, extra_args: Sequence[str] = ()) -> Server:
    """`idplane serve` on a free port with a fresh store in `work`, the bootstrap admin token `token`."""
    out_path, log_path = work / "out", work / "server.log"
    with open(out_path, "w") as out, open(log_path, "w") as log:
        process = subprocess.Popen(
            [bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(work / "data"), *extra_args],
            stdout=out,
            stderr=log,
            env=server_env(IDPLANE_BOOTSTRAP_TOKEN=token, IDPLANE_LOG="warn"),
        )
    try:
        # The banner is written at once, in one piece: its last line names the admin token.
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        text = ""
        while time.monotonic() < deadline:
            text = out_path.read_text()
            if "admin token:" in text or process.poll() is not None:
                break
            time.sleep(0.05)
        account = re.search(r"account SCIM URL:\s*(\S+)/api/2\.[01]/accounts/([^/\s]+)/scim/v2", text)
        workspace = re.search(r"workspace SCIM URL:.*\(workspace (\d+)\)", text)
        graph = re.search(r"Graph API:\s*\S+/v1\.0\s+\(tenant ([^)\s]+)\)", text)
        store = re.search(r"is serving on \S+ \(data in ([^)]+)\)", text)
        if not account or not workspace or not store:
            raise RuntimeError(f"the server did not start:\n{text}\n{log_path.read_text()}")
        return Server(
            bin=bin,
            data_dir=work / "data",
            origin=account.group(1),
            account_id=account.group(2),
            workspace_id=int(workspace.group(1)),
            tenant_id=graph.group(1) if graph else None,
            store=store.group(1),
            token=token,
            log=log_path,
            process=process,
        )
    except BaseException:
        process.kill()
        process.wait()
        raise
