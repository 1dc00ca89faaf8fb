"""The store the suite runs on: the PostgreSQL database scripts/sdk-tests --postgres names (IDPLANE_DATABASE_URL),
so that a PostgreSQL run proves the Graph API on PostgreSQL and not once more on the embedded store; the embedded
store otherwise."""

from helpers import new_user
from idplane_server import ORIGINAL_ENV


async def test_the_server_keeps_its_data_where_the_run_asked(server, graph):
    wants_postgres = bool(ORIGINAL_ENV.get("IDPLANE_DATABASE_URL"))
    if wants_postgres:
        assert server.store == "PostgreSQL", server.store
    else:
        assert server.store == str(server.data_dir), server.store
    ann = await new_user(graph, "store")
    assert (await graph.users.by_user_id(ann.id).get()).user_principal_name == ann.user_principal_name
