"""`/api/v1/status/buildinfo` and `/api/v1/metadata`.

Build info is what Grafana's Prometheus data source reads to decide what it talks to: with
no `features` object it treats the server as Prometheus (a `features` object would make it
expect Mimir's ruler API), and it enables features by `version`. So `version` is the
Prometheus release whose API and PromQL semantics this server follows (by `promql.compat`),
and MyTSDB's own version is in `revision`.
"""
from __future__ import annotations

import importlib.metadata
import platform
import re
from types import MappingProxyType
from typing import Any, Callable

from fastapi import Request
from fastapi.responses import Response

from tsdb.api.common import run_for_tenant, APIError, first, json_response
from tsdb.api.format import go_json, success_body
from tsdb.config import Config
from tsdb.tenancy import Tenant

PROMETHEUS_VERSION = MappingProxyType({"v3": "3.0.0", "v2": "2.55.0"})


def mytsdb_version() -> str:
    try:
        return importlib.metadata.version("mytsdb")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_info(compat: str) -> dict[str, str]:
    """Prometheus' PrometheusVersion fields, in its order."""
    return {"version": PROMETHEUS_VERSION[compat], "revision": f"mytsdb-{mytsdb_version()}", "branch": "",
            "buildUser": "", "buildDate": "", "goVersion": f"python{platform.python_version()}"}


def _int_param(p: dict[str, list[str]], name: str) -> int:
    """strconv.Atoi with Prometheus' metadata wording; -1 (no limit) when absent."""
    text = first(p, name)
    if not text:
        return -1
    if not re.fullmatch(r"[+-]?\d+", text):
        raise APIError("bad_data", f"{name} must be a number")
    return int(text)


def metadata(entries: dict[str, Any], p: dict[str, list[str]]) -> dict[str, list[dict[str, str]]]:
    """Prometheus' shape: `{metric: [{type, help, unit}]}`, names sorted. One entry per
    metric is kept (the newest), so `limit_per_metric` only needs validating; `limit`
    counts metrics, and 0 answers `{}` as Prometheus does."""
    limit = _int_param(p, "limit")
    _int_param(p, "limit_per_metric")
    metric = first(p, "metric")
    names = [metric] if metric else sorted(entries)
    out: dict[str, list[dict[str, str]]] = {}
    for name in names:
        if limit >= 0 and len(out) >= limit:
            break
        m = entries.get(name)
        if m is not None:
            out[name] = [{"type": m.type, "help": m.help, "unit": m.unit}]
    return out


def make_status_handlers(cfg: Config, metadata_of: Callable[[Tenant], dict[str, Any]]):
    """`metadata_of(tenant)`: the tenant's metric metadata, `{name: MetricMetadata}` (from
    the head in `all` mode, from the ingesters in distributed mode)."""
    mt = cfg.multitenancy_enabled
    info_body = success_body(go_json(build_info(cfg.promql.compat)))

    async def buildinfo(_: Request) -> Response:
        return json_response(info_body)

    async def metric_metadata(request: Request) -> Response:
        return await run_for_tenant(
            request, mt, lambda tenant, p: json_response(success_body(go_json(metadata(metadata_of(tenant), p)))))

    return buildinfo, metric_metadata
