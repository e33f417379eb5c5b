"""Shared pieces of the HTTP layer: Prometheus-shaped responses, parameters, tenants."""
from __future__ import annotations

import datetime as dt
import math
import urllib.parse
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from tsdb.tenancy import Tenant, TenantError

# Prometheus' API error types and the HTTP status each maps to.
ERROR_STATUS = {"bad_data": 400, "execution": 422, "canceled": 503, "timeout": 503, "internal": 500,
                "unavailable": 503, "not_found": 404, "not_acceptable": 406}

MIN_TIME_MS = -9223309901257974  # Prometheus' minTime (as ms)
MAX_TIME_MS = 9223309901257974


class APIError(Exception):
    """An error answered in Prometheus' JSON shape."""

    def __init__(self, error_type: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status or ERROR_STATUS[error_type]


def success(data: Any, warnings: list[str] | None = None) -> Response:
    body: dict[str, Any] = {"status": "success", "data": data}
    if warnings:
        body["warnings"] = warnings
    return Response(orjson.dumps(body), media_type="application/json")


def error_response(err: APIError) -> Response:
    body = {"status": "error", "errorType": err.error_type, "error": err.message}
    return Response(orjson.dumps(body), status_code=err.status, media_type="application/json")


def tenant_of(request: Request, multitenancy_enabled: bool) -> Tenant:
    """The request's tenant, or an APIError-compatible TenantError (400/401)."""
    from tsdb.tenancy import tenant_from_header
    return tenant_from_header(request.headers.get("x-scope-orgid"), multitenancy_enabled)


def tenant_error_response(err: TenantError) -> Response:
    return Response(str(err) + "\n", status_code=err.status, media_type="text/plain; charset=utf-8")


def parse_time_ms(value: str, name: str) -> int:
    """Prometheus' parseTime: unix seconds (float) or RFC 3339, to milliseconds."""
    try:
        seconds = float(value)
        if math.isnan(seconds) or math.isinf(seconds):
            raise ValueError
        return int(round(seconds * 1000))
    except ValueError:
        pass
    try:
        d = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if d.tzinfo is None:
            raise ValueError
        return int(round(d.timestamp() * 1000))
    except ValueError:
        raise APIError("bad_data", f'invalid parameter "{name}": cannot parse "{value}" to a valid timestamp') from None


async def params(request: Request) -> dict[str, list[str]]:
    """Query-string and form parameters together (Prometheus accepts both for GET/POST)."""
    out: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        out.setdefault(k, []).append(v)
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        body = (await request.body()).decode("utf-8", "replace")
        for k, v in urllib.parse.parse_qsl(body, keep_blank_values=True):
            out.setdefault(k, []).append(v)
    return out


def time_range(p: dict[str, list[str]]) -> tuple[int, int]:
    start = parse_time_ms(p["start"][0], "start") if p.get("start") else MIN_TIME_MS
    end = parse_time_ms(p["end"][0], "end") if p.get("end") else MAX_TIME_MS
    if end < start:
        raise APIError("bad_data", 'invalid parameter "end": end timestamp must not be before start time')
    return start, end


def parse_limit(p: dict[str, list[str]]) -> int:
    if not p.get("limit"):
        return 0
    try:
        limit = int(p["limit"][0])
    except ValueError:
        raise APIError("bad_data", 'invalid parameter "limit": cannot parse "%s" to a valid limit' % p["limit"][0]) from None
    if limit < 0:
        raise APIError("bad_data", 'invalid parameter "limit": limit must be non-negative')
    return limit
