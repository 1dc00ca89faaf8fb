"""Steps of the seed flow on Provisioning → Mappings (Entra's attribute-mapping and scoping-filter pages).

Plain functions over a signed-in Playwright `page`; the lead's whole-flow test composes them. They find fields by
their labels and buttons by their names, as a person reading the seed documents would.
"""

from playwright.sync_api import expect


def mappings_url(sp_id: str) -> str:
    return f"/console/apps/{sp_id}/provisioning/mappings"


def open_mappings(page, sp_id: str) -> None:
    """Provisioning → Mappings of the application."""
    page.goto(mappings_url(sp_id))


def open_object_mapping(page, sp_id: str, name: str = "Provision Microsoft Entra ID Users") -> None:
    """The Attribute Mapping page of one object mapping, through its link on the Mappings page."""
    open_mappings(page, sp_id)
    page.get_by_role("link", name=name, exact=True).click()
    page.wait_for_load_state()


def check_expression(page, dialog, expression: str) -> str:
    """Types `expression` into the open Edit Attribute dialog and returns what the check as-you-type says."""
    field = dialog.get_by_label("Expression", exact=True)
    field.fill(expression)
    # The answer names the expression it checked: wait for the one about this text (an earlier answer may still
    # arrive meanwhile).
    answer = dialog.locator(".mappings-check .mappings-result")
    expect(answer).to_have_attribute("data-expression", field.input_value().strip())
    return answer.inner_text()


def edit_mapping_expression(page, sp_id: str, target_attribute: str, expression: str, sample: str = "",
                            object_mapping: str = "Provision Microsoft Entra ID Users") -> str:
    """Edit Attribute on the mapping of `target_attribute`: Mapping type Expression, the expression typed (and tried
    on the sample user `sample`, or the directory's first), then Ok when it is valid. Returns the validation text
    the dialog showed ("Valid." with the parsed tree and the result on the sample user, or "Invalid: ..."); an
    invalid expression leaves the dialog open."""
    open_object_mapping(page, sp_id, object_mapping)
    page.get_by_role("link", name=f"Edit {target_attribute}", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Mapping type").select_option("Expression")
    if sample:
        dialog.get_by_label("Sample user").fill(sample)
    text = check_expression(page, dialog, expression)
    if text.startswith("Valid"):
        dialog.get_by_role("button", name="Ok").click()
        page.wait_for_load_state()
    return text


def add_scoping_filter(page, sp_id: str, attribute: str, operator: str, value: str = "", title: str = "",
                       object_mapping: str = "Provision Microsoft Entra ID Users") -> None:
    """Source Object Scope → Add scoping filter: a filter of one clause `attribute` `operator` `value` (operator as
    the portal writes it, "EQUALS", "IS NOT NULL", or as the API does, "IS_NOT_NULL")."""
    open_object_mapping(page, sp_id, object_mapping)
    page.get_by_role("link", name="All records").or_(page.get_by_role("link", name="scoping filter")).first.click()
    page.wait_for_load_state()
    page.get_by_label("Scoping filter title").fill(title or f"{attribute} {operator} {value}".strip())
    form = page.get_by_role("region", name="Add scoping filter")
    form.get_by_label("Source attribute").select_option(attribute)
    form.get_by_label("Operator").select_option(label=operator.replace("_", " "))
    if value:
        form.get_by_label("Value").fill(value)
    form.get_by_role("button", name="Add scoping filter").click()
    page.wait_for_load_state()
