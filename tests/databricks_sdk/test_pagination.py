"""Pagination over more than one page, as the SDK does it (reference 7.3): startIndex from 1, count as given (10000
when not), next startIndex = previous + len(Resources), stop on an empty page. Observed by recording the client's
requests."""

import uuid

import pytest
from databricks.sdk.service import iam

from helpers import uid

USERS = 25


@pytest.fixture
def many_users(level):
    prefix = f"pg-{uid()}"
    created = [level.users.create(user_name=f"{prefix}-{i:02d}@example.com") for i in range(USERS)]
    return prefix, created


def test_users_over_three_pages(level, many_users, record):
    prefix, created = many_users
    recorder = record(level.client)
    listed = list(level.users.list(filter=f'userName sw "{prefix}"', count=10))
    assert sorted(u.id for u in listed) == sorted(u.id for u in created)
    assert len({u.id for u in listed}) == USERS
    pages = recorder.gets("/Users")
    assert [c.query["startIndex"] for c in pages] == [1, 11, 21, 26]
    assert all(c.query["count"] == 10 for c in pages)


def test_users_without_count(level, many_users, record):
    prefix, created = many_users
    recorder = record(level.client)
    listed = list(level.users.list(filter=f'userName sw "{prefix}"'))
    assert sorted(u.id for u in listed) == sorted(u.id for u in created)
    pages = recorder.gets("/Users")
    assert [c.query["startIndex"] for c in pages] == [1, USERS + 1]
    assert all(c.query["count"] == 10000 for c in pages)


def test_users_sorted_over_pages(level, many_users):
    prefix, created = many_users
    listed = list(
        level.users.list(
            filter=f'userName sw "{prefix}"', sort_by="userName", sort_order=iam.ListSortOrder.DESCENDING, count=7
        )
    )
    names = [u.user_name for u in listed]
    assert names == sorted((u.user_name for u in created), reverse=True)
    ascending = [u.user_name for u in level.users.list(filter=f'userName sw "{prefix}"', sort_by="userName", count=7)]
    assert ascending == sorted(u.user_name for u in created)


def test_list_envelope_echoes_start_index(level, many_users):
    """The SDK ignores totalResults/itemsPerPage/startIndex, but the Go SDK pages by the echoed startIndex."""
    prefix, _ = many_users
    if level.is_account:
        base = f"/api/2.0/accounts/{level.client.config.account_id}/scim/v2"
    else:
        base = "/api/2.0/preview/scim/v2"
    page = level.client.api_client.do(
        "GET", f"{base}/Users", query={"filter": f'userName sw "{prefix}"', "startIndex": 11, "count": 10}
    )
    assert page["totalResults"] == USERS
    assert page["startIndex"] == 11
    assert page["itemsPerPage"] == 10
    assert len(page["Resources"]) == 10
    assert all("id" in r for r in page["Resources"])
    past = level.client.api_client.do(
        "GET", f"{base}/Users", query={"filter": f'userName sw "{prefix}"', "startIndex": 26, "count": 10}
    )
    assert past.get("Resources", []) == []


def test_groups_over_pages(level, record):
    prefix = f"pgg-{uid()}"
    created = [level.groups.create(display_name=f"{prefix}-{i:02d}") for i in range(12)]
    recorder = record(level.client)
    listed = list(level.groups.list(filter=f'displayName sw "{prefix}"', count=5))
    assert sorted(g.id for g in listed) == sorted(g.id for g in created)
    assert [c.query["startIndex"] for c in recorder.gets("/Groups")] == [1, 6, 11, 13]


def test_service_principals_over_pages(level, record):
    prefix = f"pgs-{uid()}"
    created = [
        level.service_principals.create(application_id=str(uuid.uuid4()), display_name=f"{prefix}-{i:02d}")
        for i in range(12)
    ]
    recorder = record(level.client)
    listed = list(level.service_principals.list(filter=f'displayName sw "{prefix}"', count=5))
    assert sorted(s.id for s in listed) == sorted(s.id for s in created)
    assert [c.query["startIndex"] for c in recorder.gets("/ServicePrincipals")] == [1, 6, 11, 13]
