"""Run a process: build the services, serve HTTP with uvicorn, flush on SIGTERM."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Iterator

import uvicorn

from tsdb.api.app import create_app, create_role_app
from tsdb.config import Config
from tsdb.services import Services

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its graceful shutdown, which makes a clean stop
    exit with -15. We handle the signal ourselves so a flushed shutdown exits 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


def run_all(cfg: Config) -> int:
    """`mytsdb all`: every component in one process. Returns the exit code."""
    from flight.backend import LocalBackend
    from flight.server import QueryFlightServer
    from flight.sql import FlightSqlService
    from tsdb.sql.guard import storage_roots
    from tsdb.sql.tables import local_sessions

    services = Services.build(cfg, with_ring=True, with_compactor=True)
    log.info("bucket: %s; WAL: %s", services.bucket.describe(), cfg.wal_dir)
    # The Flight port: the internal query service (head plus bucket) and Flight SQL.
    flight = QueryFlightServer(f"grpc+tcp://{cfg.server.listen_address}:{cfg.server.flight_port}",
                               LocalBackend(services, read_head=True), registry=services.metrics.registry,
                               sql=FlightSqlService(local_sessions(services), storage_roots(cfg)),
                               sql_tokens=cfg.server.flight_sql_tokens)
    flight.serve_in_thread()
    log.info("flight on grpc+tcp://%s:%d", cfg.server.listen_address, cfg.server.flight_port)
    try:
        return _serve(cfg, create_app(services))
    finally:
        flight.shutdown()


def run_role(cfg: Config, role_name: str, instance_id: str) -> int:
    """`mytsdb <role>`: one service of distributed mode. Returns the exit code."""
    from tsdb.roles import build_role

    role = build_role(role_name, cfg, instance_id)
    log.info("%s %s: http :%d, grpc :%d, flight :%d; ring KV %s", role_name, instance_id, cfg.server.http_port,
             cfg.server.grpc_port, cfg.server.flight_port, cfg.ring.kvstore)
    return _serve(cfg, create_role_app(role.parts()))


def _serve(cfg: Config, app) -> int:
    server = _Server(uvicorn.Config(
        app, host=cfg.server.listen_address, port=cfg.server.http_port, log_level="warning",
        access_log=False, lifespan="on", timeout_graceful_shutdown=30,
    ))
    log.info("listening on http://%s:%d", cfg.server.listen_address, cfg.server.http_port)
    server.run()
    return 0 if server.started else 1
