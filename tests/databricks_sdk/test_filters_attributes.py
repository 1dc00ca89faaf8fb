"""Filters (eq ne co sw, and or, case, form-encoding) and attributes/excludedAttributes on list, at every level."""

import pytest
from databricks.sdk.errors import BadRequest

from helpers import cv, ids, uid


@pytest.fixture
def trio(level):
    """Three users sharing a unique marker: alpha (active), beta (inactive), gamma+tag (active)."""
    m = uid()
    alpha = level.users.create(user_name=f"alpha-{m}@example.com", display_name=f"Alpha {m}", active=True)
    beta = level.users.create(user_name=f"beta-{m}@example.com", display_name=f"Beta {m}", active=False)
    gamma = level.users.create(user_name=f"gamma+tag-{m}@example.com", display_name=f"Gamma {m}", active=True)
    return m, alpha, beta, gamma


def found(level, expression):
    return sorted(ids(level.users.list(filter=expression)))


def test_user_filter_operators(level, trio):
    m, alpha, beta, gamma = trio
    assert found(level, f'userName eq "alpha-{m}@example.com"') == [alpha.id]
    assert found(level, f'userName co "{m}"') == sorted([alpha.id, beta.id, gamma.id])
    assert found(level, f'userName sw "beta-{m}"') == [beta.id]
    assert found(level, f'userName co "{m}" and userName ne "alpha-{m}@example.com"') == sorted([beta.id, gamma.id])
    assert found(level, f'userName eq "alpha-{m}@example.com" or userName eq "beta-{m}@example.com"') == sorted(
        [alpha.id, beta.id]
    )
    assert found(level, f'displayName eq "Gamma {m}"') == [gamma.id]


def test_user_filter_on_active(level, trio):
    m, alpha, beta, gamma = trio
    assert found(level, f'userName co "{m}" and active eq false') == [beta.id]
    assert found(level, f'userName co "{m}" and active eq true') == sorted([alpha.id, gamma.id])


def test_user_name_filter_is_case_insensitive(level, trio):
    m, alpha, _, _ = trio
    assert found(level, f'userName eq "ALPHA-{m}@EXAMPLE.COM"') == [alpha.id]


def test_plus_sign_survives_form_encoding(level, trio):
    """The SDK sends `+` as %2B and spaces as `+`."""
    m, _, _, gamma = trio
    assert found(level, f'userName eq "gamma+tag-{m}@example.com"') == [gamma.id]


def test_unquoted_filter_value(level, trio):
    """Databricks documents examples with unquoted values (reference 2.2)."""
    m, alpha, _, _ = trio
    assert found(level, f"userName eq alpha-{m}@example.com") == [alpha.id]


def test_invalid_filter_is_bad_request(level):
    with pytest.raises(BadRequest):
        list(level.users.list(filter="userName zz 1"))


def test_list_attributes(level, trio):
    m, alpha, _, _ = trio
    (item,) = level.users.list(filter=f'userName eq "alpha-{m}@example.com"', attributes="userName")
    assert item.id == alpha.id
    assert item.user_name == alpha.user_name
    assert item.display_name is None
    assert item.active is None
    (item,) = level.users.list(filter=f'userName eq "alpha-{m}@example.com"', attributes="id")
    assert item.id == alpha.id and item.user_name is None


def test_list_excluded_attributes(level):
    user = level.users.create(user_name=f"ex-{uid()}@example.com", display_name="Excluded")
    group = level.groups.create(display_name=f"ex-{uid()}", members=[cv(user.id)])
    (item,) = level.users.list(filter=f'userName eq "{user.user_name}"', excluded_attributes="roles,groups")
    assert item.display_name == "Excluded"
    assert not item.groups
    (item,) = level.users.list(filter=f'userName eq "{user.user_name}"')
    assert group.id in {g.value for g in item.groups}


def test_group_filters(level):
    m = uid()
    data = level.groups.create(display_name=f"data-eng-{m}")
    ml = level.groups.create(display_name=f"ml-eng-{m}")
    assert sorted(ids(level.groups.list(filter=f'displayName co "eng-{m}"'))) == sorted([data.id, ml.id])
    assert ids(level.groups.list(filter=f'displayName sw "data-eng-{m}"')) == [data.id]
    assert ids(level.groups.list(filter=f'displayName eq "ml-eng-{m}"')) == [ml.id]
