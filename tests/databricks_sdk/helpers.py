"""Shared helpers of the databricks-sdk acceptance suite: unique names, small builders, xfail reasons."""

import os
import uuid
from typing import Iterable, List, Optional, Set

import pytest
from databricks.sdk.service import iam

PATCH_SCHEMA = [iam.PatchSchema.URN_IETF_PARAMS_SCIM_API_MESSAGES_2_0_PATCH_OP]

# Features the server does not have yet. Tests marked with these are strict xfails: the day the feature lands they
# XPASS, fail the run, and the marker must be removed.

# Where Databricks departs from RFC 7643/7644, idplane follows the RFCs by default and Databricks with
# `--databricks-strict` (docs/databricks.md). scripts/sdk-tests --databricks-strict starts the server so and runs the
# tests marked `databricks_strict`, which then expect Databricks' behaviour; the default run expects the RFCs'.
DATABRICKS_STRICT = os.environ.get("IDPLANE_DATABRICKS_STRICT") == "true"
databricks_strict = pytest.mark.databricks_strict


def uid() -> str:
    """A short unique suffix for resource names, so that tests never collide."""
    return uuid.uuid4().hex[:12]


def email(prefix: str = "u") -> str:
    return f"{prefix}-{uid()}@example.com"


def cv(value: str, **kwargs) -> iam.ComplexValue:
    return iam.ComplexValue(value=value, **kwargs)


def values(items: Optional[Iterable[iam.ComplexValue]]) -> Set[str]:
    return {item.value for item in items or []}


def ids(items: Iterable) -> List[str]:
    return [item.id for item in items]


def xfail(reason: str):
    return pytest.mark.xfail(strict=True, reason=reason)


def patch(op: iam.PatchOp, path: Optional[str] = None, value=None) -> iam.Patch:
    return iam.Patch(op=op, path=path, value=value)


ADD, REMOVE, REPLACE = iam.PatchOp.ADD, iam.PatchOp.REMOVE, iam.PatchOp.REPLACE
