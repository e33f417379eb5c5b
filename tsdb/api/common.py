"""Shared pieces of the HTTP layer: Prometheus-shaped responses, parameters, tenants.

Parameters are read as Prometheus' `web/api/v1/api.go` reads them (`parseTime`,
`parseDuration`, `parseLimitParam`, `r.FormValue`), with its error texts, so clients
see the same answers from both.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import urllib.parse
from types import MappingProxyType
from typing import Any, Callable

import orjson
from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from promql.durations import parse_duration_ms as parse_prometheus_duration_ms
from promql.strings import go_quote
from tsdb.api.format import error_body
from tsdb.tenancy import Tenant, TenantError, tenant_from_header

# Prometheus' API error types and the HTTP status each maps to (499: client closed request).
ERROR_STATUS = MappingProxyType({
    "bad_data": 400, "execution": 422, "canceled": 499, "timeout": 503, "internal": 500,
    "unavailable": 503, "not_found": 404, "not_acceptable": 406})

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


def json_response(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def error_response(err: APIError) -> Response:
    return Response(error_body(err.error_type, err.message), status_code=err.status, media_type="application/json")


def tenant_of(request: Request, multitenancy_enabled: bool) -> Tenant:
    """The request's tenant, or a TenantError (401 missing, 400 invalid)."""
    return tenant_from_header(request.headers.get("x-scope-orgid"), multitenancy_enabled)


async def run_for_tenant(request: Request, multitenancy_enabled: bool,
                         work: Callable[[Tenant, dict[str, list[str]]], Response]) -> Response:
    """The shape of every tenant-scoped read endpoint: resolve the tenant, gather the
    parameters, run `work(tenant, params)` in a worker thread (it may scan storage), and
    answer tenant faults as plain text and API faults in Prometheus' JSON."""
    try:
        tenant = tenant_of(request, multitenancy_enabled)
    except TenantError as e:
        return tenant_error_response(e)
    try:
        p = await params(request)
        return await run_in_threadpool(work, tenant, p)
    except APIError as e:
        return error_response(e)
    except Exception as e:  # a storage error of the API's shape (e.g. the querier's `unavailable`)
        error_type = getattr(e, "error_type", None)
        if isinstance(error_type, str) and error_type in ERROR_STATUS:
            return error_response(APIError(error_type, getattr(e, "message", None) or str(e)))
        raise


def tenant_error_response(err: TenantError) -> Response:
    return Response(str(err) + "\n", status_code=err.status, media_type="text/plain; charset=utf-8")


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MS = dt.timedelta(milliseconds=1)
# Prometheus' MinTime and MaxTime as RFC 3339, which clients send for "unbounded".
_BOUNDARY_TIMES = MappingProxyType({"-292273086-05-16T16:47:06Z": -9223309901257974000,
                                    "292277025-08-18T07:12:54.999999999Z": 9223309901257974999})
_INT64 = 2**63


def go_float(s: str) -> float | None:
    """strconv.ParseFloat for the decimal forms clients send; None where Go would fail."""
    if not s or s != s.strip() or "_" in s:
        return None
    try:
        v = float(s)
    except ValueError:
        return None
    if math.isinf(v) and s.lower().lstrip("+-") not in ("inf", "infinity"):
        return None  # Go reports an overflow as an error
    return v


def parse_time_value(value: str) -> int:
    """Prometheus' parseTime, in ms: unix seconds rounded to the ms, or RFC 3339
    truncated to the ms. ValueError carries Prometheus' message."""
    seconds = go_float(value)
    if seconds is not None and math.isfinite(seconds) and abs(seconds) < 9.2e15:
        whole = math.trunc(seconds)
        frac_ms = (seconds - whole) * 1000
        return int(whole) * 1000 + int(math.copysign(math.floor(abs(frac_ms) + 0.5), frac_ms))
    if _RFC3339.match(value):
        try:
            return (dt.datetime.fromisoformat(value.replace("Z", "+00:00")) - _EPOCH) // _MS
        except ValueError:
            pass
    if value in _BOUNDARY_TIMES:
        return _BOUNDARY_TIMES[value]
    raise ValueError(f"cannot parse {go_quote(value)} to a valid timestamp")


def parse_time_ms(value: str, name: str) -> int:
    """Prometheus' parseTime (unix seconds or RFC 3339, to ms), for parameter `name`."""
    try:
        return parse_time_value(value)
    except ValueError as e:
        raise APIError("bad_data", f'invalid parameter "{name}": {e}') from None


def parse_duration_ns(value: str) -> int:
    """Prometheus' parseDuration: float seconds or a duration (`15s`, `1h30m`), in ns."""
    seconds = go_float(value)
    if seconds is not None:
        if math.isnan(seconds):
            return -_INT64  # what Go's conversion of NaN gives on amd64
        ns = seconds * 1e9
        if ns > _INT64 - 1 or ns < -_INT64:
            raise ValueError(f"cannot parse {go_quote(value)} to a valid duration. It overflows int64")
        return int(ns)
    try:
        return parse_prometheus_duration_ms(value) * 1_000_000
    except ValueError:
        raise ValueError(f"cannot parse {go_quote(value)} to a valid duration") from None


def first(p: dict[str, list[str]], name: str) -> str:
    """Go's `r.FormValue`: the first value, or ""."""
    values = p.get(name)
    return values[0] if values else ""


async def params(request: Request) -> dict[str, list[str]]:
    """Form-body and query-string parameters together, body first: Prometheus accepts both
    for GET and POST, and a body value wins (Go's `r.FormValue`)."""
    out: dict[str, list[str]] = {}
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        body = (await request.body()).decode("utf-8", "replace")
        for k, v in urllib.parse.parse_qsl(body, keep_blank_values=True):
            out.setdefault(k, []).append(v)
    for k, v in request.query_params.multi_items():
        out.setdefault(k, []).append(v)
    return out


def time_range(p: dict[str, list[str]]) -> tuple[int, int]:
    start = parse_time_ms(p["start"][0], "start") if p.get("start") else MIN_TIME_MS
    end = parse_time_ms(p["end"][0], "end") if p.get("end") else MAX_TIME_MS
    if end < start:
        raise APIError("bad_data", 'invalid parameter "end": end timestamp must not be before start time')
    return start, end


def parse_limit(p: dict[str, list[str]]) -> int:
    """Prometheus' parseLimitParam: 0 (absent) means no limit."""
    text = first(p, "limit")
    if not text:
        return 0
    if not re.fullmatch(r"[+-]?\d+", text):
        raise APIError("bad_data", f'invalid parameter "limit": strconv.Atoi: parsing {go_quote(text)}: invalid syntax')
    limit = int(text)
    if not -_INT64 <= limit < _INT64:
        raise APIError("bad_data", f'invalid parameter "limit": strconv.Atoi: parsing {go_quote(text)}: value out of range')
    if limit < 0:
        raise APIError("bad_data", 'invalid parameter "limit": limit must be non-negative')
    return limit
