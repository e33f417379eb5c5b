"""The FastAPI application of one process: routes wired to the library objects."""
from __future__ import annotations

import contextlib
import logging
import threading

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from tsdb.api.common import tenant_error_response
from tsdb.api.push import make_push_handler
from tsdb.api.query import make_query_handlers
from tsdb.api.series import make_series_handlers
from tsdb.api.status import make_status_handlers
from tsdb.services import Services
from tsdb.tenancy import Tenant, TenantError

log = logging.getLogger(__name__)


def create_app(services: Services, manage_lifecycle: bool = True) -> FastAPI:
    """Build the app. With `manage_lifecycle` the app starts the services (WAL replay)
    on start-up and flushes on shutdown (SIGTERM)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        if manage_lifecycle:
            await run_in_threadpool(services.start)
        try:
            yield
        finally:
            if manage_lifecycle:
                log.info("shutting down: flushing heads")
                await run_in_threadpool(services.stop)

    app = FastAPI(title="MyTSDB", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    mt = services.cfg.multitenancy_enabled

    push = make_push_handler(services.distributor, services.metrics, mt)
    series, labels, label_values = make_series_handlers(services.reader, mt)
    query, query_range, format_query, query_exemplars = make_query_handlers(services)
    buildinfo, metadata = make_status_handlers(services)
    for prefix in ("", "/prometheus"):
        app.add_api_route(f"{prefix}/api/v1/push", push, methods=["POST"])
        app.add_api_route(f"{prefix}/api/v1/write", push, methods=["POST"])
        app.add_api_route(f"{prefix}/api/v1/series", series, methods=["GET", "POST"])
        app.add_api_route(f"{prefix}/api/v1/labels", labels, methods=["GET", "POST"])
        app.add_api_route(prefix + "/api/v1/label/{name}/values", label_values, methods=["GET"])
        app.add_api_route(f"{prefix}/api/v1/query", query, methods=["GET", "POST"])
        app.add_api_route(f"{prefix}/api/v1/query_range", query_range, methods=["GET", "POST"])
        app.add_api_route(f"{prefix}/api/v1/format_query", format_query, methods=["GET", "POST"])
        app.add_api_route(f"{prefix}/api/v1/query_exemplars", query_exemplars, methods=["GET", "POST"])
        app.add_api_route(f"{prefix}/api/v1/metadata", metadata, methods=["GET"])
        app.add_api_route(f"{prefix}/api/v1/status/buildinfo", buildinfo, methods=["GET"])

    @app.get("/ready")
    async def ready() -> Response:
        if services.ingester.ready:
            return PlainTextResponse("ready\n")
        return PlainTextResponse("not ready: replaying the WAL\n", status_code=503)

    @app.get("/metrics")
    async def metrics() -> Response:
        services.ingester.update_gauges()
        return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.api_route("/ingester/flush", methods=["GET", "POST"])
    async def flush(request: Request) -> Response:
        """Mimir's flush endpoint: `tenant` (repeatable) limits it; `wait=true` blocks until done."""
        try:
            tenants = [Tenant.parse(t) for t in request.query_params.getlist("tenant")]
        except TenantError as e:
            return tenant_error_response(e)

        def work() -> int:
            if not tenants:
                return services.ingester.flush_all()
            failed = 0
            for t in tenants:
                try:
                    services.ingester.flush(t)
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

    return app
