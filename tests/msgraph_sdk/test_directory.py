"""The directory through the SDK: users with every property idplane keeps, groups and nesting, memberships
(`members@odata.bind`, `members/$ref`), `memberOf`, managers and direct reports, soft delete and the deleted items
(restore, permanent delete)."""

from datetime import datetime, timedelta, timezone

from helpers import add_member, directory_object, ids, new_group, new_user, odata_error, upn
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.directory.deleted_items.item.directory_object_item_request_builder import (
    DirectoryObjectItemRequestBuilder,
)
from msgraph.generated.models.group import Group
from msgraph.generated.models.reference_update import ReferenceUpdate
from msgraph.generated.models.user import User
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

# Every property of the SDK's User model that idplane keeps and a client may write, with a value of its type.
WRITABLE = {
    "business_phones": ["+1 425 555 0109"],
    "given_name": "Adele",
    "surname": "Vance",
    "job_title": "Retail Manager",
    "mail": None,  # set per user: unique
    "mobile_phone": "+1 425 555 0110",
    "office_location": "18/2111",
    "preferred_language": "en-US",
    "department": "Retail",
    "employee_id": "E-1001",
    "employee_type": "Employee",
    "company_name": "Contoso",
    "street_address": "205 108th Ave NE",
    "city": "Bellevue",
    "state": "WA",
    "postal_code": "98004",
    "country": "United States",
    "usage_location": "US",
    "fax_number": "+1 425 555 0111",
    "other_mails": ["adele@fabrikam.com"],
    "proxy_addresses": ["SMTP:adele@contoso.com"],
    "user_type": "Member",
    "on_premises_immutable_id": "AdeleV-immutable",
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def select(*names: str) -> RequestConfiguration:
    query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(select=list(names))
    return RequestConfiguration(query_parameters=query)


async def test_a_user_keeps_every_property_the_sdk_writes(graph):
    values = dict(WRITABLE, mail=upn("adele"))
    before = datetime.now(timezone.utc)
    created = await new_user(graph, "adele", display_name="Adele Vance", **values)
    assert created.display_name == "Adele Vance"
    # The create answers Graph's default properties (department is not one of them) and never the password.
    assert (created.given_name, created.job_title, created.business_phones) == (
        "Adele", "Retail Manager", ["+1 425 555 0109"])
    assert created.password_profile is None

    names = ["display_name", "user_principal_name", "account_enabled", "mail_nickname", "created_date_time", *values]
    read = await graph.users.by_user_id(created.id).get(select(*[camel(n) for n in names]))
    for name, value in values.items():
        assert getattr(read, name) == value, name
    assert (read.account_enabled, read.mail_nickname) == (True, created.user_principal_name.split("@")[0])
    assert before - timedelta(minutes=5) < read.created_date_time < datetime.now(timezone.utc) + timedelta(minutes=5)

    # By user principal name too, as Graph allows.
    by_name = await graph.users.by_user_id(created.user_principal_name).get()
    assert by_name.id == created.id

    # PATCH changes what it names; a null (only additional_data carries one) removes a property.
    await graph.users.by_user_id(created.id).patch(
        User(department="Sales", account_enabled=False, additional_data={"jobTitle": None}))
    read = await graph.users.by_user_id(created.id).get(select("department", "accountEnabled", "jobTitle", "city"))
    assert (read.department, read.account_enabled, read.job_title, read.city) == ("Sales", False, None, "Bellevue")


async def test_groups_nest_and_memberships_are_read_both_ways(graph, graph_base):
    ann, bob = await new_user(graph, "ann"), await new_user(graph, "bob")
    inner = await new_group(graph, graph_base, "engineers", members=[ann.id])
    outer = await new_group(graph, graph_base, "all", members=[inner.id, bob.id])
    assert (outer.security_enabled, outer.mail_enabled, outer.group_types) == (True, False, [])

    members = await graph.groups.by_group_id(outer.id).members.get()
    kinds = sorted((type(m).__name__, m.id) for m in members.value)
    assert kinds == sorted([("Group", inner.id), ("User", bob.id)])

    carol = await new_user(graph, "carol")
    await add_member(graph, graph_base, inner.id, carol.id)
    members = await graph.groups.by_group_id(inner.id).members.get()
    assert sorted(ids(members.value)) == sorted([ann.id, carol.id])

    # memberOf: the direct groups of a user, and of a group.
    assert ids((await graph.users.by_user_id(carol.id).member_of.get()).value) == [inner.id]
    of_inner = (await graph.groups.by_group_id(inner.id).member_of.get()).value
    assert [(type(g).__name__, g.id) for g in of_inner] == [("Group", outer.id)]

    await graph.groups.by_group_id(inner.id).members.by_directory_object_id(carol.id).ref.delete()
    assert ids((await graph.groups.by_group_id(inner.id).members.get()).value) == [ann.id]
    assert (await graph.users.by_user_id(carol.id).member_of.get()).value == []


async def test_membership_mistakes_are_refused_as_graph_refuses_them(graph, graph_base):
    ann = await new_user(graph, "ann")
    inner = await new_group(graph, graph_base, "inner", members=[ann.id])
    outer = await new_group(graph, graph_base, "outer", members=[inner.id])
    await odata_error(add_member(graph, graph_base, inner.id, ann.id), 400, "Request_BadRequest")
    # A cycle: outer already contains inner.
    await odata_error(add_member(graph, graph_base, inner.id, outer.id), 400, "Request_BadRequest")
    missing = "00000000-0000-4000-8000-000000000000"
    await odata_error(add_member(graph, graph_base, inner.id, missing), 404, "Request_ResourceNotFound")
    await odata_error(
        graph.groups.by_group_id(outer.id).members.by_directory_object_id(ann.id).ref.delete(),
        404, "Request_ResourceNotFound")


async def test_a_manager_is_set_read_and_seen_from_the_reports(graph, graph_base):
    boss, ann, bob = await new_user(graph, "boss"), await new_user(graph, "ann"), await new_user(graph, "bob")
    for report in (ann, bob):
        await graph.users.by_user_id(report.id).manager.ref.put(
            ReferenceUpdate(odata_id=directory_object(graph_base, boss.id)))
    manager = await graph.users.by_user_id(ann.id).manager.get()
    assert (type(manager).__name__, manager.id, manager.display_name) == ("User", boss.id, boss.display_name)
    reports = await graph.users.by_user_id(boss.id).direct_reports.get()
    assert sorted(ids(reports.value)) == sorted([ann.id, bob.id])
    assert all(type(r).__name__ == "User" for r in reports.value)

    await odata_error(
        graph.users.by_user_id(ann.id).manager.ref.put(ReferenceUpdate(odata_id=directory_object(graph_base, ann.id))),
        400, "Request_BadRequest")
    await graph.users.by_user_id(ann.id).manager.ref.delete()
    await odata_error(graph.users.by_user_id(ann.id).manager.get(), 404, "Request_ResourceNotFound")
    assert ids((await graph.users.by_user_id(boss.id).direct_reports.get()).value) == [bob.id]


async def test_a_deleted_user_waits_in_the_deleted_items_until_restored_or_purged(graph, graph_base):
    ann = await new_user(graph, "ann")
    group = await new_group(graph, graph_base, "team", members=[ann.id])
    await graph.users.by_user_id(ann.id).delete()
    await odata_error(graph.users.by_user_id(ann.id).get(), 404, "Request_ResourceNotFound")

    deleted = await graph.directory.deleted_items.graph_user.get()
    assert ann.id in ids(deleted.value)
    query = DirectoryObjectItemRequestBuilder.DirectoryObjectItemRequestBuilderGetQueryParameters(
        select=["id", "userPrincipalName", "deletedDateTime"])
    item = await graph.directory.deleted_items.by_directory_object_id(ann.id).get(
        RequestConfiguration(query_parameters=query))
    assert (type(item).__name__, item.user_principal_name) == ("User", ann.user_principal_name)
    assert datetime.now(timezone.utc) - timedelta(minutes=5) < item.deleted_date_time

    restored = await graph.directory.deleted_items.by_directory_object_id(ann.id).restore.post()
    assert (type(restored).__name__, restored.id) == ("User", ann.id)
    assert (await graph.users.by_user_id(ann.id).get()).user_principal_name == ann.user_principal_name
    assert ann.id not in ids((await graph.directory.deleted_items.graph_user.get()).value)

    await graph.users.by_user_id(ann.id).delete()
    await graph.directory.deleted_items.by_directory_object_id(ann.id).delete()
    await odata_error(graph.directory.deleted_items.by_directory_object_id(ann.id).get(), 404,
                      "Request_ResourceNotFound")
    await odata_error(graph.directory.deleted_items.by_directory_object_id(ann.id).restore.post(), 404,
                      "Request_ResourceNotFound")
    assert ann.id not in ids((await graph.groups.by_group_id(group.id).members.get()).value)


async def test_a_microsoft_365_group_is_soft_deleted_and_a_security_group_is_not(graph, graph_base):
    team = await new_group(graph, graph_base, "m365", security=False)
    security = await new_group(graph, graph_base, "sec")
    assert team.group_types == ["Unified"]
    await graph.groups.by_group_id(team.id).delete()
    await graph.groups.by_group_id(security.id).delete()
    deleted = ids((await graph.directory.deleted_items.graph_group.get()).value)
    assert team.id in deleted and security.id not in deleted
    restored = await graph.directory.deleted_items.by_directory_object_id(team.id).restore.post()
    assert isinstance(restored, Group) and restored.display_name == team.display_name
