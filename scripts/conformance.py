#!/usr/bin/env python3
"""Run the scim2-tester conformance suite against a running idplane server.

scim2-tester is a library without a command line; this driver is its entry
point. It discovers the server through /ServiceProviderConfig, /ResourceTypes
and /Schemas, then runs every check scim2-tester has (discovery, CRUD,
attributes/excludedAttributes, /.search, PATCH add/replace/remove) on every
resource type the server publishes.

Usage:
    pip install -r scripts/requirements-test.txt
    python scripts/conformance.py \
        --url http://127.0.0.1:8080/api/2.0/preview/scim/v2 --token TOKEN
    python scripts/conformance.py \
        --url http://127.0.0.1:8080/api/2.0/accounts/ACCOUNT/scim/v2 --token TOKEN

Exit status:
    0  every check is SUCCESS
    1  at least one check is not SUCCESS (ERROR, CRITICAL, SKIPPED, ...); an
       unreachable server shows up here too, as ERROR checks
    2  the suite could not run at all (packages missing, scim2-tester crashed,
       bad arguments)

The last line printed is "N passed, M failed" (M counts every check that makes
the exit status 1). The other suite, scim-sanity, has its own command line:
    scim-sanity probe URL --token TOKEN --strict --i-accept-side-effects

How SKIPPED is treated:
    scim2-tester reports SKIPPED for very different reasons:
      * "Skipped due to tag filtering/exclusion": the check was deselected with
        --include-tags/--exclude-tags on this command line;
      * PATCH checks when ServiceProviderConfig says patch.supported=false;
      * attributes checks when a model has no attribute to test with;
      * "POST /.search" when the server answers 501 to a search at the root.
    Only the first kind is a choice of the person running the suite. All the
    other kinds mean the server did not exercise a feature the project wants
    to pass, so they count as failures here: the goal is "every check SUCCESS".
    A check skipped by tag filtering is tolerated only when this command line
    asked for filtering (--include-tags or --exclude-tags). Every SKIPPED
    check is listed with its reason either way.
"""

import argparse
import json
import sys
from collections import Counter


def _parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True,
                   help="SCIM base URL, e.g. http://127.0.0.1:8080/api/2.0/preview/scim/v2")
    p.add_argument("--token", required=True, help="bearer token sent as 'Authorization: Bearer TOKEN'")
    p.add_argument("--include-tags", default="",
                   help="comma separated tags to run only (discovery, crud, crud:read, patch:add, misc, ...)")
    p.add_argument("--exclude-tags", default="", help="comma separated tags to skip")
    p.add_argument("--resource-types", default="",
                   help="comma separated resource type names to test (default: all the server publishes)")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")
    p.add_argument("--json", dest="json_path", default="",
                   help="also write the results as JSON to this file")
    p.add_argument("--verbose", action="store_true", help="print the debug data of checks that did not succeed")
    return p.parse_args(argv)


def _split(value):
    return {v.strip() for v in value.split(",") if v.strip()} or None


def main(argv=None):
    args = _parse_args(argv)
    try:
        from httpx2 import Client
        from scim2_client.engines.httpx2 import SyncSCIMClient
        from scim2_tester import Status, check_server
    except ImportError as exc:
        print(f"error: {exc}; install scripts/requirements-test.txt first", file=sys.stderr)
        return 2

    include = _split(args.include_tags)
    exclude = _split(args.exclude_tags)
    resource_types = sorted(_split(args.resource_types) or []) or None
    filtering = bool(include or exclude)

    # httpx joins "/Users" onto the base URL path, so the base URL may carry a
    # path prefix such as /api/2.0/accounts/ACCOUNT/scim/v2.
    http = Client(
        base_url=args.url.rstrip("/"),
        headers={"Authorization": f"Bearer {args.token}"},
        timeout=args.timeout,
    )
    scim = SyncSCIMClient(http)
    try:
        results = check_server(
            scim,
            raise_exceptions=False,
            include_tags=include,
            exclude_tags=exclude,
            resource_types=resource_types,
        )
    except Exception as exc:  # the suite itself crashed: not a verdict on checks
        print(f"error: scim2-tester could not run: {exc!r}", file=sys.stderr)
        return 2
    finally:
        http.close()

    counts = Counter()
    failed = []
    skipped = []
    rows = []
    for r in results:
        status = r.status.name
        counts[status] += 1
        where = f"[{r.resource_type}] " if r.resource_type else ""
        line = f"{status:<9} {where}{r.title or '?'}"
        if r.reason:
            line += f": {r.reason}"
        print(line.replace("\n", " | "))
        if args.verbose and r.status not in (Status.SUCCESS, Status.SKIPPED) and r.data is not None:
            print(f"          data: {r.data!r}"[:2000])
        rows.append({"status": status, "title": r.title, "resource_type": r.resource_type,
                     "reason": r.reason, "tags": sorted(r.tags or [])})
        if r.status == Status.SUCCESS:
            continue
        if r.status == Status.SKIPPED:
            skipped.append(r)
            by_filter = (r.reason or "").startswith("Skipped due to tag")
            if by_filter and filtering:
                continue  # deselected on purpose by this command line
        failed.append(r)

    if skipped:
        print(f"\nSKIPPED checks ({len(skipped)}):")
        for r in skipped:
            where = f"[{r.resource_type}] " if r.resource_type else ""
            print(f"  {where}{r.title}: {r.reason}")

    summary = ", ".join(f"{k.lower()}={v}" for k, v in sorted(counts.items()))
    print(f"\nscim2-tester: {len(results)} checks: {summary}")
    n_ok = counts.get("SUCCESS", 0)
    print(f"{n_ok} passed, {len(failed)} failed")

    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as fh:
            json.dump({"url": args.url, "counts": dict(counts), "results": rows}, fh, indent=2)

    if not results:
        print("no check ran", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
