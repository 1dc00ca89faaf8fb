"""The transport the suite runs over: HTTPS when scripts/test gives the server a certificate (IDPLANE_TLS_CERT), so
that the same SDK calls are proven over TLS too; plain HTTP otherwise."""

from idplane_server import ORIGINAL_ENV


def test_the_server_speaks_the_transport_the_run_asked_for(env, w_fed):
    wants_tls = bool(ORIGINAL_ENV.get("IDPLANE_TLS_CERT"))
    assert env.server.origin.startswith("https://" if wants_tls else "http://"), env.server.origin
    assert w_fed.current_user.me().user_name == "admin"
