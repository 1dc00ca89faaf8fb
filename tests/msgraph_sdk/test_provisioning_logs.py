"""The provisioning logs (`/auditLogs/provisioning`) as the SDK requests them: its request builder's `$filter`,
`$orderby` and `$top` are accepted and answer a `ProvisioningObjectSummaryCollectionResponse` (empty: nothing failed
for an 'Ann'; test_provisioning reads records the engine wrote), a record id that does not exist is a 404, and what idplane
does not serve is an ODataError naming it."""

from helpers import odata_error
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.audit_logs.provisioning.provisioning_request_builder import ProvisioningRequestBuilder

Query = ProvisioningRequestBuilder.ProvisioningRequestBuilderGetQueryParameters


async def test_the_sdks_query_is_served(graph):
    query = Query(
        filter="provisioningStatusInfo/status eq 'failure' and activityDateTime ge 2026-01-01T00:00:00Z "
        "and contains(sourceIdentity/displayName, 'Ann')",
        orderby=["activityDateTime asc"],
        top=50,
    )
    page = await graph.audit_logs.provisioning.get(RequestConfiguration(query_parameters=query))
    assert page.value == [] and page.odata_next_link is None


async def test_a_missing_record_is_a_404(graph):
    missing = graph.audit_logs.provisioning.by_provisioning_object_summary_id("0193a2b4-0000-7000-8000-000000000000")
    await odata_error(missing.get(), 404, "Request_ResourceNotFound")


async def test_what_is_not_served_is_refused_by_name(graph):
    logs = graph.audit_logs.provisioning
    await odata_error(logs.get(RequestConfiguration(query_parameters=Query(filter="tenantId eq 'x'"))), 400,
                      "Request_UnsupportedQuery", "tenantId")
    await odata_error(logs.get(RequestConfiguration(query_parameters=Query(orderby=["jobId"]))), 400,
                      "Request_UnsupportedQuery", "$orderby")
    await odata_error(logs.get(RequestConfiguration(query_parameters=Query(select=["id"]))), 400,
                      "Request_UnsupportedQuery", "$select")
