"""The directory's pages (Entra's Users and Groups): users created, searched, edited, disabled, deleted and restored;
groups with a user and a nested group as members; a CSV bulk create watched to its end; and values rendered as
text."""

import re
import uuid

from conftest import shot
from playwright.sync_api import expect
from flow_directory import add_member, create_group, create_user, open_group, open_user


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def accept_dialogs(page):
    page.on("dialog", lambda d: d.accept())


def test_create_search_edit_disable_delete_and_restore_a_user(signed_in):
    page = signed_in
    accept_dialogs(page)
    alias = unique("ada")
    name = f"Ada {alias}"
    page.goto("/console/users")
    shot(page, "directory-users")
    page.get_by_role("link", name="New user").first.click()
    page.get_by_label("User principal name").fill(f"{alias}@contoso.com")
    page.get_by_label("Display name").fill(name)
    shot(page, "directory-user-new")
    create_user(page, f"{alias}@contoso.com", name, **{"Job title": "Engineer"})
    expect(page.get_by_role("status")).to_have_text(f"Created {name}.")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    shot(page, "directory-user")

    # The same user principal name again: the API's message next to the field, the input kept.
    page.goto("/console/users/new")
    page.get_by_label("User principal name").fill(f"{alias}@contoso.com")
    page.get_by_label("Display name").fill("Someone else")
    page.get_by_role("button", name="Create").click()
    error = page.locator("#e-userPrincipalName")
    assert "userPrincipalName already exists" in error.inner_text()
    assert page.get_by_label("Display name").input_value() == "Someone else"
    assert page.get_by_label("User principal name").get_attribute("aria-invalid") == "true"
    shot(page, "directory-user-new-error")

    # Search finds it by the start of its name, and only what starts so.
    page.goto("/console/users")
    page.get_by_label("Search", exact=True).fill(name[:7])
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    shot(page, "directory-users-search")
    page.get_by_label("Search", exact=True).fill("zz-nobody")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".empty")).to_contain_text("No user has a display name that starts with")
    page.get_by_label("Search", exact=True).fill(f"{alias}@")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_label("Search by")).to_have_value("userPrincipalName")
    expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()

    # Edit properties.
    open_user(page, name)
    page.get_by_role("link", name="Edit properties").click()
    assert page.get_by_label("Job title").input_value() == "Engineer"
    shot(page, "directory-user-edit")
    page.get_by_label("Job title").fill("Analyst")
    page.get_by_label("Department").fill("Research")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.locator("dl.facts").get_by_text("Analyst")).to_be_visible()
    expect(page.locator("dl.facts").get_by_text("Research")).to_be_visible()

    # A manager, by user principal name; a wrong one says what to type.
    boss = unique("boss")
    create_user(page, f"{boss}@contoso.com", f"Boss {boss}")
    open_user(page, name)
    page.get_by_label("Manager's user principal name").fill("nobody@contoso.com")
    page.get_by_role("button", name="Set manager").click()
    expect(page.get_by_role("alert")).to_contain_text("No user nobody@contoso.com")
    page.get_by_label("Manager's user principal name").fill(f"{boss}@contoso.com")
    page.get_by_role("button", name="Set manager").click()
    expect(page.get_by_role("status")).to_have_text(f"Manager set to Boss {boss}.")
    expect(page.locator("dl.facts").get_by_role("link", name=f"Boss {boss}")).to_be_visible()
    shot(page, "directory-user-manager")
    page.get_by_role("button", name="Remove manager").click()
    expect(page.get_by_role("status")).to_have_text("Manager removed.")

    # Disable, then enable.
    page.get_by_role("button", name="Disable account").click()
    expect(page.get_by_role("status")).to_contain_text("disabled")
    expect(page.get_by_role("button", name="Enable account")).to_be_visible()
    shot(page, "directory-user-disabled")
    page.get_by_role("button", name="Enable account").click()
    expect(page.get_by_role("button", name="Disable account")).to_be_visible()

    # Delete (confirmed), then restore from Deleted users.
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r"/console/users\?notice="))
    expect(page.get_by_role("status")).to_contain_text(f"Deleted {name}")
    page.get_by_role("link", name="Deleted users").click()
    page.get_by_label("Search", exact=True).fill(name)
    page.get_by_role("button", name="Search").click()
    shot(page, "directory-users-deleted")
    page.get_by_role("button", name=f"Restore {name}").click()
    page.wait_for_url(re.compile(r"/console/users/[0-9a-fA-F-]{36}\?notice="))
    expect(page.get_by_role("status")).to_have_text(f"Restored {name}.")

    # Delete it again, and permanently.
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r"/console/users\?notice="))
    page.goto(f"/console/users/deleted?q={alias[:3]}")
    page.get_by_role("button", name=f"Delete permanently {name}").click()
    expect(page.get_by_role("status")).to_contain_text("permanently")
    page.goto(f"/console/users/deleted?q=Ada+{alias}")
    expect(page.locator(".empty")).to_be_visible()


def test_a_group_with_a_user_and_a_nested_group(signed_in):
    page = signed_in
    accept_dialogs(page)
    alias = unique("grace")
    member = f"Grace {alias}"
    create_user(page, f"{alias}@contoso.com", member)
    outer = unique("Engineers ")
    inner = unique("Data team ")
    create_group(page, inner, description="The data team", group_type="Microsoft 365")
    create_group(page, outer, description="All engineers")
    expect(page.get_by_role("status")).to_have_text(f"Created {outer}.")
    expect(page.locator(".empty").first).to_contain_text("has no members")
    shot(page, "directory-group-new-created")

    add_member(page, outer, member)
    expect(page.get_by_role("status")).to_have_text(f"Added {member} as a member.")
    page.get_by_role("link", name="Add members").first.click()
    page.get_by_label("Search users and groups").fill(inner[:9])
    page.get_by_role("button", name="Search").click()
    shot(page, "directory-group-add-members")
    add_member(page, outer, inner)

    members = page.locator("table[aria-labelledby=members] tbody tr")
    expect(members).to_have_count(2)
    nested = members.filter(has_text=inner)
    assert "Group (nested)" in nested.inner_text()
    assert "User" in members.filter(has_text=member).inner_text()
    shot(page, "directory-group")

    # The nested group lists what it is a member of; the user its groups.
    page.get_by_role("link", name=inner, exact=True).click()
    expect(page.locator("table[aria-labelledby=member-of]").get_by_role("link", name=outer)).to_be_visible()
    shot(page, "directory-group-nested")
    open_user(page, member)
    expect(page.locator("table[aria-labelledby=groups]").get_by_role("link", name=outer)).to_be_visible()

    # Adding the outer group into the inner one would be a cycle: the API's reason is shown.
    open_group(page, inner)
    page.get_by_role("link", name="Add members").first.click()
    page.get_by_label("Search users and groups").fill(outer)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("button", name=f"Add {outer}", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("cycle")

    # Remove the user.
    open_group(page, outer)
    page.get_by_role("button", name=f"Remove {member}").click()
    expect(page.get_by_role("status")).to_have_text(f"Removed {member} from the members.")
    expect(members).to_have_count(1)
    expect(page.get_by_role("button", name=f"Remove {inner}")).to_be_visible()

    # Delete the inner group (Microsoft 365) and restore it; a security group is deleted at once.
    open_group(page, inner)
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r"/console/groups\?notice="))
    expect(page.get_by_role("status")).to_contain_text("30 days")
    page.get_by_role("link", name="Deleted groups").click()
    shot(page, "directory-groups-deleted")
    page.get_by_role("button", name=f"Restore {inner}").click()
    expect(page.get_by_role("status")).to_have_text(f"Restored {inner}.")
    page.goto("/console/groups")
    shot(page, "directory-groups")
    open_group(page, outer)
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r"/console/groups\?notice="))
    expect(page.get_by_role("status")).to_contain_text("permanently")
    page.goto(f"/console/groups/deleted?q={outer}")
    expect(page.locator(".empty")).to_be_visible()


def test_bulk_create_from_a_csv_file_shows_its_progress_to_the_end(signed_in, server, tmp_path):
    page = signed_in
    page.goto("/console/users/import")
    shot(page, "directory-users-import")
    template = page.request.get(f"{server.origin}/console/users/import/template")
    assert template.ok and "attachment" in template.headers["content-disposition"]
    lines = template.text().splitlines()
    assert lines[0] == "version:v1.0" and lines[1].startswith("Name [displayName] Required,User name [userPrincipalName]")
    batch = unique("bulk")
    rows = [
        f"Bulk One {batch},one.{batch}@contoso.com,Passw0rd!,No,One,Bulk,Analyst",
        f"Bulk Two {batch},two.{batch}@contoso.com,Passw0rd!,No,Two,Bulk,",
        f"Bulk Bad {batch},not-a-user-principal-name,Passw0rd!,No,,,",
        f'"Bulk Three, {batch}",three.{batch}@contoso.com,Passw0rd!,Yes,Three,Bulk,"Job, with comma"',
    ]
    csv = tmp_path / "users.csv"
    csv.write_text("\r\n".join(lines[:2] + rows) + "\r\n", encoding="utf-8")
    page.get_by_label("CSV file", exact=True).set_input_files(str(csv))
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(r"/console/users/import/[0-9a-f]+$"))
    summary = page.locator("#import-summary")
    summary.filter(has_text="Done.").wait_for()
    assert "4 of 4 rows processed: 3 created, 1 failed." in summary.inner_text()
    failure = page.locator("#import-progress tbody tr")
    expect(failure).to_have_count(1)
    assert failure.locator("td").first.inner_text() == "5", "the bad row is the file's line 5"
    assert "userPrincipalName" in failure.inner_text()
    shot(page, "directory-users-import-done")

    # The users are there; Block sign in: Yes made the third one disabled.
    open_user(page, f"Bulk Three, {batch}")
    expect(page.locator("dl.facts").get_by_text("Job, with comma")).to_be_visible()
    expect(page.get_by_role("button", name="Enable account")).to_be_visible()

    # A file that cannot be read says what to fix, on the form.
    bad = tmp_path / "bad.csv"
    bad.write_text("displayName,shoeSize\nA,42\n", encoding="utf-8")
    page.goto("/console/users/import")
    page.get_by_label("CSV file", exact=True).set_input_files(str(bad))
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("alert")).to_contain_text("shoeSize")
    shot(page, "directory-users-import-error")


def test_a_display_name_with_markup_renders_as_text(signed_in):
    page = signed_in
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    evil = "<script>alert(1)</script>"
    alias = unique("xss")
    create_user(page, f"{alias}@contoso.com", evil)
    expect(page.get_by_role("heading", level=1)).to_have_text(evil)
    shot(page, "directory-user-markup")
    page.goto("/console/users?q=%3Cscript")
    expect(page.get_by_role("link", name=evil).first).to_be_visible()
    group = unique("<img src=x onerror=alert(2)>")
    create_group(page, group)
    add_member(page, group, evil)
    expect(page.get_by_role("link", name=evil)).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text(group)
    assert dialogs == [], f"a script ran: {dialogs}"


def test_the_users_page_reads_on_a_phone(signed_in):
    page = signed_in
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/console/users")
    expect(page.get_by_role("link", name="New user").first).to_be_visible()
    shot(page, "directory-users-phone")
    page.goto("/console/groups/new")
    expect(page.get_by_label("Group name")).to_be_visible()
    shot(page, "directory-group-new-phone")


def test_a_long_list_is_paged_with_next_and_previous(signed_in, tmp_path):
    page = signed_in
    batch = unique("Pg")
    rows = ["displayName,userPrincipalName"] + [f"{batch} {i:03d},{batch.lower()}.{i:03d}@contoso.com" for i in range(60)]
    csv = tmp_path / "many.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    page.goto("/console/users/import")
    page.get_by_label("CSV file", exact=True).set_input_files(str(csv))
    page.get_by_role("button", name="Submit").click()
    page.locator("#import-summary").filter(has_text="Done.").wait_for()
    expect(page.locator("#import-summary")).to_contain_text("60 created, 0 failed")

    page.goto("/console/users")
    page.get_by_label("Search", exact=True).fill(batch)
    page.get_by_role("button", name="Search").click()
    listed = page.locator("table.directory-list tbody tr")
    expect(listed).to_have_count(50)
    expect(page.get_by_role("link", name="Previous")).to_have_count(0)
    first_row = listed.first.inner_text()
    page.get_by_role("link", name="Next").click()
    expect(listed).to_have_count(10)
    expect(page.get_by_role("link", name="Next")).to_have_count(0)
    expect(listed.filter(has_text=first_row.split("\t")[0])).to_have_count(0)
    assert page.get_by_label("Search", exact=True).input_value() == batch, "the search is kept across pages"
    shot(page, "directory-users-page-2")
    page.get_by_role("link", name="Previous").click()
    expect(listed).to_have_count(50)
    expect(listed.first).to_have_text(first_row)
