"""Listings as the SDK reads them: msgraph-core's PageIterator following absolute `@odata.nextLink`s over more
users than one page, `$filter`, `$select`, `$top`, and `$count` with the `ConsistencyLevel: eventual` header the
SDK's documentation sends with it."""

import asyncio
from typing import List

from helpers import new_group, new_user, uid
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder
from msgraph.generated.models.user import User
from msgraph.generated.users.count.count_request_builder import CountRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core.tasks.page_iterator import PageIterator

# Graph's page when no $top is given (idplane's too): the listing below is longer.
DEFAULT_PAGE = 100
MANY = DEFAULT_PAGE + 7

EVENTUAL = {"ConsistencyLevel": "eventual"}


def users_query(**query) -> RequestConfiguration:
    config = RequestConfiguration(query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(**query))
    config.headers.add_all(EVENTUAL)
    return config


async def make_users(graph, count: int, **properties) -> List[User]:
    """`count` users made a few at a time (the SDK's client is asynchronous), all with `properties`."""
    made: List[User] = []
    for start in range(0, count, 10):
        batch = [new_user(graph, "page", **properties) for _ in range(start, min(count, start + 10))]
        made.extend(await asyncio.gather(*batch))
    return made


async def read_all(graph, first) -> List[User]:
    """Every item from the first page on, through msgraph-core's PageIterator."""
    seen: List[User] = []

    def keep(user: User) -> bool:
        seen.append(user)
        return True

    iterator = PageIterator(first, graph.request_adapter)
    # Not iterator.set_headers(EVENTUAL): msgraph-core 1.5.2 calls HeadersCollection.add_all(**headers), which
    # kiota-abstractions 1.16 does not take (TypeError).
    for name, value in EVENTUAL.items():
        iterator.headers.add(name, value)
    await iterator.iterate(keep)
    return seen


async def test_the_page_iterator_follows_next_links_past_the_default_page(graph, server):
    tag = f"E-{uid()}"
    made = await make_users(graph, MANY, employee_id=tag)
    first = await graph.users.get(users_query(filter=f"employeeId eq '{tag}'", count=True))
    assert len(first.value) == DEFAULT_PAGE
    assert first.odata_count == MANY
    # Absolute, on the server's own origin, with the query options of the request (PageIterator uses it verbatim).
    assert first.odata_next_link.startswith(f"{server.origin}/v1.0/users?"), first.odata_next_link
    assert "employeeId" in first.odata_next_link and "skiptoken" in first.odata_next_link
    seen = await read_all(graph, first)
    assert sorted(u.id for u in seen) == sorted(u.id for u in made)


async def test_top_and_select_shape_every_page(graph):
    tag = f"E-{uid()}"
    made = await make_users(graph, 12, employee_id=tag, department="Pages")
    first = await graph.users.get(users_query(
        filter=f"employeeId eq '{tag}'", top=5, select=["id", "userPrincipalName", "department"]))
    assert len(first.value) == 5 and first.odata_next_link
    seen = await read_all(graph, first)
    assert sorted(u.id for u in seen) == sorted(u.id for u in made)
    for user in seen:
        # Only what $select names (the id always): displayName, a default property, is left out.
        assert (user.department, user.display_name) == ("Pages", None), user
        assert user.user_principal_name.startswith("page-")


async def test_filters_the_sdk_docs_use(graph, graph_base):
    ann = await new_user(graph, "ann", display_name=f"Ann {uid()}")
    bob = await new_user(graph, "bob", mail=f"bob-{uid()}@contoso.com")
    tag = f"E-{uid()}"
    off = await new_user(graph, "off", employee_id=tag)
    await graph.users.by_user_id(off.id).patch(User(account_enabled=False))

    async def matching(expression: str) -> List[str]:
        page = await graph.users.get(users_query(filter=expression))
        return sorted(u.id for u in page.value)

    assert await matching(f"userPrincipalName eq '{ann.user_principal_name.upper()}'") == [ann.id]
    assert await matching(f"startsWith(displayName,'{ann.display_name[:8]}')") == [ann.id]
    assert await matching(f"mail eq '{bob.mail}'") == [bob.id]
    assert await matching(f"id in ('{ann.id}', '{bob.id}')") == sorted([ann.id, bob.id])
    assert await matching(f"employeeId eq '{tag}' and accountEnabled eq false") == [off.id]
    assert await matching(f"employeeId eq '{tag}' and accountEnabled eq true") == []

    security = await new_group(graph, graph_base, "filter-sec")
    team = await new_group(graph, graph_base, "filter-m365", security=False)
    config = RequestConfiguration(query_parameters=GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(
        filter=f"displayName in ('{security.display_name}', '{team.display_name}') and securityEnabled eq true"))
    groups = await graph.groups.get(config)
    assert [g.id for g in groups.value] == [security.id]


async def test_count_answers_with_and_without_a_filter(graph):
    tag = f"E-{uid()}"
    await make_users(graph, 3, employee_id=tag)
    config = RequestConfiguration(
        query_parameters=CountRequestBuilder.CountRequestBuilderGetQueryParameters(filter=f"employeeId eq '{tag}'"))
    config.headers.add_all(EVENTUAL)
    assert await graph.users.count.get(config) == 3
    everyone = RequestConfiguration()
    everyone.headers.add_all(EVENTUAL)
    total = await graph.users.count.get(everyone)
    assert isinstance(total, int) and total >= 3
    listed = await graph.users.get(users_query(count=True, top=1))
    assert listed.odata_count == total
