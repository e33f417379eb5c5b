"""Tenant identity, validated once at the edge.

Every layer below the HTTP/gRPC edge takes a `Tenant`, never a raw string from a
request, so a path or SQL literal can only ever be built from a checked ID.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MAX_TENANT_ID_LENGTH = 150
DEFAULT_TENANT = "anonymous"
_VALID_CHAR = re.compile(r"[a-zA-Z0-9_.\-]")
_VALID_ID = re.compile(r"^[a-zA-Z0-9_.\-]{1,150}$")


class TenantError(ValueError):
    """The tenant header is missing (401) or invalid (400)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Tenant:
    """A validated tenant ID. Build it with `Tenant.parse`; the constructor trusts its input."""

    id: str

    @classmethod
    def parse(cls, raw: str) -> "Tenant":
        """Validate an `X-Scope-OrgID` value: 1-150 chars of [a-zA-Z0-9_.-], not `.` or `..`.

        This is a deliberate subset of Mimir's rule: `*` and `'` would break globs and
        SQL literals built from the ID later.
        """
        if _VALID_ID.match(raw) and raw not in (".", ".."):
            return cls(raw)
        if raw == "":
            raise TenantError("no org id", 401)
        if len(raw) > MAX_TENANT_ID_LENGTH:
            raise TenantError(f"tenant ID is too long: max {MAX_TENANT_ID_LENGTH} characters", 400)
        if raw in (".", ".."):
            raise TenantError("tenant ID is '.' or '..'", 400)
        bad = next(ch for ch in raw if not _VALID_CHAR.match(ch))
        raise TenantError(f"tenant ID '{raw}' contains unsupported character '{bad}'", 400)

    def __str__(self) -> str:
        return self.id


def tenant_from_header(value: str | None, multitenancy_enabled: bool) -> Tenant:
    """Resolve the tenant of a request from its `X-Scope-OrgID` header.

    Unlike Mimir, the header is honoured even when multitenancy is disabled; without it
    the tenant is `anonymous`. With multitenancy enabled a missing header is a 401.
    """
    if value is None or value == "":
        if multitenancy_enabled:
            raise TenantError("no org id", 401)
        return Tenant(DEFAULT_TENANT)
    return Tenant.parse(value)
