"""PromQL over HTTP: `/api/v1/query`, `/query_range`, `/format_query`, `/query_exemplars`.

Parameters are checked in the order Prometheus checks them, with its texts, and the
tenant's query limits are applied before the engine runs, so a request that cannot be
answered fails before it reads any data. The engine and the storage source are passed
in as factories: the server uses the real ones, tests may use fakes.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Callable

from fastapi import Request
from fastapi.responses import Response

import promql
from promql.ast import VectorSelector
from tsdb.api.common import run_for_tenant, APIError, ERROR_STATUS, first, json_response, parse_duration_ns, \
    parse_limit, parse_time_value
from tsdb.api.format import cap_annotations, json_string, result_json, success_body
from tsdb.config import Config
from tsdb.tenancy import Tenant

log = logging.getLogger(__name__)

MAX_POINTS = 11_000  # Prometheus' cap on steps per range query
_NS_PER_MS = 1_000_000

# (services, tenant, max_series) -> a SampleSource; (EngineSettings) -> an engine.
SourceFactory = Callable[[Any, Tenant, int], Any]
EngineFactory = Callable[["EngineSettings"], Any]


@dataclass(frozen=True)
class EngineSettings:
    """What one query's engine is built with: config bounds narrowed by the request."""

    lookback_delta_ms: int
    compat: str
    max_samples: int
    timeout_s: float


@dataclass(frozen=True)
class QueryRequest:
    text: str
    start_ms: int
    end_ms: int
    step_ms: int  # 0 for an instant query
    limit: int
    timeout_ns: int | None
    lookback_delta_ns: int
    max_resolution: int = 0  # Thanos' `max_source_resolution` (ms): 0 reads raw data only


def storage_source(services: Any, tenant: Tenant, max_series: int, max_resolution: int = 0) -> Any:
    from tsdb.query.source import StorageSource
    return StorageSource(services, tenant, max_series=max_series, layouts=services.layouts,
                         max_resolution=max_resolution)


def promql_engine(settings: EngineSettings) -> Any:
    from promql.engine import Engine, EngineOptions
    return Engine(EngineOptions(lookback_delta_ms=settings.lookback_delta_ms, compat=settings.compat,
                                max_samples=settings.max_samples, timeout_s=settings.timeout_s))


def _invalid(name: str, message: str) -> APIError:
    return APIError("bad_data", f'invalid parameter "{name}": {message}')


def _duration_param(p: dict[str, list[str]], name: str) -> int | None:
    text = first(p, name)
    if not text:
        return None
    try:
        return parse_duration_ns(text)
    except ValueError as e:
        raise _invalid(name, str(e)) from None


def _lookback_param(p: dict[str, list[str]]) -> int:
    text = first(p, "lookback_delta")
    if not text:
        return 0
    try:
        return parse_duration_ns(text)
    except ValueError as e:
        raise APIError("bad_data", f"error parsing lookback delta duration: {e}") from None


def _parse_query(text: str, name: str = "query") -> promql.Expr:
    try:
        return promql.parse(text)
    except promql.ParseError as e:
        raise _invalid(name, str(e)) from None


def parse_instant(p: dict[str, list[str]], now_ms: int) -> QueryRequest:
    limit = parse_limit(p)
    t = now_ms
    if first(p, "time"):
        try:
            t = parse_time_value(first(p, "time"))
        except ValueError as e:
            raise _invalid("time", f"invalid time value for 'time': {e}") from None
    timeout = _duration_param(p, "timeout")
    lookback = _lookback_param(p)
    text = first(p, "query")
    _parse_query(text)
    return QueryRequest(text, t, t, 0, limit, timeout, lookback, _resolution_param(p, 0))


def parse_range(p: dict[str, list[str]], max_length_ms: int) -> QueryRequest:
    limit = parse_limit(p)
    bounds = []
    for name in ("start", "end"):
        try:
            bounds.append(parse_time_value(first(p, name)))
        except ValueError as e:
            raise _invalid(name, str(e)) from None
    start, end = bounds
    if end < start:
        raise _invalid("end", "end timestamp must not be before start time")
    try:
        step_ns = parse_duration_ns(first(p, "step"))
    except ValueError as e:
        raise _invalid("step", str(e)) from None
    if step_ns <= 0:
        raise _invalid("step", "zero or negative query resolution step widths are not accepted. Try a positive integer")
    if (end - start) * _NS_PER_MS // step_ns > MAX_POINTS:
        raise APIError("bad_data", "exceeded maximum resolution of 11,000 points per timeseries. "
                                   "Try decreasing the query resolution (?step=XX)")
    timeout = _duration_param(p, "timeout")
    lookback = _lookback_param(p)
    if max_length_ms and end - start > max_length_ms:
        raise APIError("bad_data", query_length_error(end - start, max_length_ms))
    text = first(p, "query")
    _parse_query(text)
    # The engine steps in whole ms, as Prometheus' does; a sub-ms step would never advance.
    step_ms = max(1, step_ns // _NS_PER_MS)
    return QueryRequest(text, start, end, step_ms, limit, timeout, lookback, _resolution_param(p, step_ms))


def _resolution_param(p: dict[str, list[str]], step_ms: int) -> int:
    """Thanos' `max_source_resolution` (`0s` by default: raw data only)."""
    from tsdb.query.downsampled import parse_max_source_resolution

    try:
        return parse_max_source_resolution(first(p, "max_source_resolution") or "0s", step_ms)
    except ValueError as e:
        raise _invalid("max_source_resolution", str(e)) from None


def query_length_error(length_ms: int, limit_ms: int) -> str:
    return (f"the total query time range exceeds the limit (query length: {go_duration(length_ms)}, "
            f"limit: {go_duration(limit_ms)}) (err-mimir-max-total-query-length). To adjust the related "
            "per-tenant limit, configure max_total_query_length in limits or overrides, or contact your "
            "service administrator.")


def go_duration(ms: int) -> str:
    """Go's time.Duration.String for whole milliseconds: `1h0m0s`, `1m30.5s`, `250ms`, `0s`."""
    if ms == 0:
        return "0s"
    sign, ms = ("-", -ms) if ms < 0 else ("", ms)
    if ms < 1000:
        return f"{sign}{ms}ms"
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, frac = divmod(rest, 1000)
    seconds = f"{s}.{frac:03d}".rstrip("0") if frac else str(s)
    if h:
        return f"{sign}{h}h{m}m{seconds}s"
    if m:
        return f"{sign}{m}m{seconds}s"
    return f"{sign}{seconds}s"


def engine_settings(cfg: Config, req: QueryRequest) -> EngineSettings:
    timeout_s = cfg.querier.timeout / 1000
    if req.timeout_ns is not None:
        timeout_s = max(0.0, min(timeout_s, req.timeout_ns / 1e9))
    lookback_ms = req.lookback_delta_ns // _NS_PER_MS if req.lookback_delta_ns > 0 else cfg.promql.lookback_delta
    return EngineSettings(lookback_ms or cfg.promql.lookback_delta, cfg.promql.compat, cfg.querier.max_samples,
                          timeout_s)


def _as_api_error(e: Exception) -> APIError:
    """The engine's QueryError (or a source's error of the same shape) keeps its type."""
    if isinstance(e, promql.ParseError):
        return _invalid("query", str(e))
    error_type = getattr(e, "error_type", None)
    if isinstance(error_type, str) and error_type in ERROR_STATUS:
        return APIError(error_type, getattr(e, "message", None) or str(e))
    log.exception("query failed")
    return APIError("internal", str(e) or type(e).__name__)


def has_selector(node: Any) -> bool:
    """Whether an expression selects any series (Prometheus' ExtractSelectors is non-empty)."""
    if isinstance(node, VectorSelector):
        return True
    if isinstance(node, tuple):
        return any(has_selector(n) for n in node)
    if is_dataclass(node) and type(node).__module__ == "promql.ast":
        return any(has_selector(getattr(node, f.name)) for f in fields(node))
    return False


def make_query_handlers(services: Any, source_factory: SourceFactory = storage_source,
                        engine_factory: EngineFactory = promql_engine):
    """The handlers of the query routes, bound to `services`."""
    cfg: Config = services.cfg
    mt = cfg.multitenancy_enabled

    def execute(tenant: Tenant, req: QueryRequest) -> bytes:
        limits = cfg.limits_for(tenant)
        try:
            source = (source_factory(services, tenant, limits.max_fetched_series_per_query, req.max_resolution)
                      if req.max_resolution else source_factory(services, tenant, limits.max_fetched_series_per_query))
            engine = engine_factory(engine_settings(cfg, req))
            if req.step_ms:
                result = engine.range(source, req.text, req.start_ms, req.end_ms, req.step_ms)
            else:
                result = engine.instant(source, req.text, req.start_ms)
        except Exception as e:
            raise _as_api_error(e) from None
        data, truncated = result_json(result, req.limit)
        warnings = list(result.warnings) + (["results truncated due to limit"] if truncated else [])
        return success_body(data, cap_annotations(warnings, "warning"), cap_annotations(result.infos, "info"))

    async def run(request: Request, work: Callable[[Tenant, dict[str, list[str]]], bytes]) -> Response:
        return await run_for_tenant(request, mt, lambda tenant, p: json_response(work(tenant, p)))

    async def query(request: Request) -> Response:
        now_ms = time.time_ns() // _NS_PER_MS
        return await run(request, lambda tenant, p: execute(tenant, parse_instant(p, now_ms)))

    async def query_range(request: Request) -> Response:
        def work(tenant: Tenant, p: dict[str, list[str]]) -> bytes:
            req = parse_range(p, cfg.limits_for(tenant).max_total_query_length)
            return execute(tenant, req)
        return await run(request, work)

    async def format_query(request: Request) -> Response:
        def work(_: Tenant, p: dict[str, list[str]]) -> bytes:
            return success_body(json_string(promql.format_expr(_parse_query(first(p, "query")))))
        return await run(request, work)

    async def query_exemplars(request: Request) -> Response:
        """MyTSDB stores no exemplars: valid requests get an empty list."""
        def work(_: Tenant, p: dict[str, list[str]]) -> bytes:
            bounds = {}
            for name, default in (("start", None), ("end", None)):
                text = first(p, name)
                try:
                    bounds[name] = parse_time_value(text) if text else default
                except ValueError as e:
                    raise _invalid(name, f"invalid time value for '{name}': {e}") from None
            if None not in bounds.values() and bounds["end"] < bounds["start"]:
                raise APIError("bad_data", "end timestamp must not be before start timestamp")
            try:
                expr = promql.parse(first(p, "query"))
            except promql.ParseError as e:
                raise APIError("bad_data", str(e)) from None
            return b'{"status":"success","data":[]}' if has_selector(expr) else b'{"status":"success"}'
        return await run(request, work)

    return query, query_range, format_query, query_exemplars
