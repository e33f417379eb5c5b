"""The FastAPI application of one process: routes wired to the library objects.

`all` mode serves every route from one `Services`; a distributed-mode process serves
the routes of its role (`AppParts` with only its parts set): the same handlers, so the
distributor answers remote write and the querier the Prometheus API exactly as `all`
mode does.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from tsdb.api.common import tenant_error_response
from tsdb.api.push import make_push_handler
from tsdb.api.export import make_export_handler
from tsdb.api.query import make_query_handlers, storage_source
from tsdb.api.series import make_series_handlers
from tsdb.api.status import make_status_handlers
from tsdb.config import Config
from tsdb.distributor import Distributor
from tsdb.ingester import Ingester
from tsdb.metrics import Metrics
from tsdb.services import Services
from tsdb.tenancy import Tenant, TenantError

log = logging.getLogger(__name__)


@dataclass
class AppParts:
    """What one process serves over HTTP. Unset parts leave their routes out."""

    cfg: Config
    metrics: Metrics
    start: Callable[[], None]
    stop: Callable[[], None]
    ready: Callable[[], str | None]            # None when ready, else why not
    update_gauges: Callable[[], None] = lambda: None
    distributor: Distributor | None = None      # remote write
    query_services: Any = None                  # PromQL: handed to `source_factory` (needs `.cfg`)
    source_factory: Callable[..., Any] = storage_source
    series_reader: Any = None                   # select / label_names / label_values
    metadata_of: Callable[[Tenant], dict] | None = None
    ingester: Ingester | None = None            # /ingester/flush
    extra_routes: list[Callable[[FastAPI], None]] = field(default_factory=list)


def create_app(services: Services, manage_lifecycle: bool = True) -> FastAPI:
    """`all` mode. With `manage_lifecycle` the app starts the services (WAL replay) on
    start-up and flushes on shutdown (SIGTERM)."""
    noop: Callable[[], None] = lambda: None  # noqa: E731
    return create_role_app(AppParts(
        cfg=services.cfg, metrics=services.metrics,
        start=services.start if manage_lifecycle else noop, stop=services.stop if manage_lifecycle else noop,
        ready=lambda: None if services.ingester.ready else "replaying the WAL",
        update_gauges=services.ingester.update_gauges,
        distributor=services.distributor, query_services=services, series_reader=services.reader,
        metadata_of=lambda t: _head_metadata(services.ingester, t), ingester=services.ingester,
        extra_routes=list(services.extra_routes),
    ))


def _head_metadata(ingester: Ingester, tenant: Tenant) -> dict:
    db = ingester.existing(tenant)
    return dict(db.metadata) if db is not None else {}


def create_role_app(parts: AppParts) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        await run_in_threadpool(parts.start)
        try:
            yield
        finally:
            log.info("shutting down")
            await run_in_threadpool(parts.stop)

    app = FastAPI(title="MyTSDB", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    mt = parts.cfg.multitenancy_enabled
    routes: list[tuple[str, Any, list[str]]] = []
    if parts.distributor is not None:
        push = make_push_handler(parts.distributor, parts.metrics, mt)
        routes += [("/api/v1/push", push, ["POST"]), ("/api/v1/write", push, ["POST"])]
    if parts.series_reader is not None:
        series, labels, label_values = make_series_handlers(parts.series_reader, mt)
        routes += [("/api/v1/series", series, ["GET", "POST"]), ("/api/v1/labels", labels, ["GET", "POST"]),
                   ("/api/v1/label/{name}/values", label_values, ["GET"])]
    if parts.query_services is not None:
        query, query_range, format_query, query_exemplars = make_query_handlers(
            parts.query_services, source_factory=parts.source_factory)
        buildinfo, metadata = make_status_handlers(parts.cfg, parts.metadata_of or (lambda _: {}))
        if parts.series_reader is not None:
            export = make_export_handler(parts.query_services, parts.source_factory, parts.series_reader, mt)
            routes += [("/api/v1/export", export, ["GET", "POST"])]
        routes += [("/api/v1/query", query, ["GET", "POST"]), ("/api/v1/query_range", query_range, ["GET", "POST"]),
                   ("/api/v1/format_query", format_query, ["GET", "POST"]),
                   ("/api/v1/query_exemplars", query_exemplars, ["GET", "POST"]),
                   ("/api/v1/metadata", metadata, ["GET"]), ("/api/v1/status/buildinfo", buildinfo, ["GET"])]
    for prefix in ("", "/prometheus"):
        for path, handler, methods in routes:
            app.add_api_route(prefix + path, handler, methods=methods)

    @app.get("/ready")
    async def ready() -> Response:
        why = parts.ready()
        if why is None:
            return PlainTextResponse("ready\n")
        return PlainTextResponse(f"not ready: {why}\n", status_code=503)

    @app.get("/metrics")
    async def metrics() -> Response:
        parts.update_gauges()
        return Response(generate_latest(parts.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if parts.ingester is not None:
        _add_flush_route(app, parts.ingester)
    for add in parts.extra_routes:
        add(app)
    return app


def _add_flush_route(app: FastAPI, ingester: Ingester) -> None:
    @app.api_route("/ingester/flush", methods=["GET", "POST"])
    async def flush(request: Request) -> Response:
        """Mimir's flush endpoint: `tenant` (repeatable) limits it; `wait=true` blocks until done."""
        try:
            tenants = [Tenant.parse(t) for t in request.query_params.getlist("tenant")]
        except TenantError as e:
            return tenant_error_response(e)

        def work() -> int:
            if not tenants:
                return ingester.flush_all()
            failed = 0
            for t in tenants:
                try:
                    ingester.flush(t)
                except Exception:
                    failed += 1
            return failed

        if request.query_params.get("wait", "").lower() == "true":
            failed = await run_in_threadpool(work)
            if failed:
                return PlainTextResponse(f"flush failed for {failed} tenant(s); see the logs\n", status_code=500)
        else:
            threading.Thread(target=work, name="flush-request", daemon=True).start()
        return Response(status_code=204)
