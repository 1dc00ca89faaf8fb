"""scim2-server, the independent SCIM 2.0 server the provisioning engine's tests provision into (pinned in
scripts/requirements-test.txt, installed into .venv by scripts/venv, started by
crates/worker/tests/engine/scim2_server.rs). This file is not named after the package, which it would hide.

It runs scim2-server's own command line (in-memory storage, the RFC 7643 schemas, its arguments passed on, such as
--bearer-token) on 127.0.0.1 and a port the system chooses: the command prints the port it was given, so this prints
the one it got first, as "port N", and nothing else on standard output. It stops when its standard input closes, so
that it never outlives the test that started it.
"""

import os
import sys
import threading

from scim2_server.testserver import cli


def main() -> None:
    make_server = cli.make_server

    def listening(host, port, app, **kwargs):
        server = make_server(host, port, app, **kwargs)
        print(f"port {server.server_port}", flush=True)
        # The caller reads that line only: what the command prints next goes to standard error.
        sys.stdout = sys.stderr
        return server

    cli.make_server = listening

    def stop_when_stdin_closes() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    sys.argv = ["scim2-server", "--hostname", "127.0.0.1", "--port", "0", *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
