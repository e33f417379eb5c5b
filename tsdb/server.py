"""Run a process: build the services, serve HTTP with uvicorn, flush on SIGTERM."""
from __future__ import annotations

import logging

import uvicorn

from tsdb.api.app import create_app
from tsdb.config import Config
from tsdb.services import Services

log = logging.getLogger(__name__)


def run_all(cfg: Config) -> int:
    """`mytsdb all`: every component in one process. Returns the exit code."""
    services = Services.build(cfg)
    log.info("bucket: %s; WAL: %s", services.bucket.describe(), cfg.wal_dir)
    app = create_app(services)
    server = uvicorn.Server(uvicorn.Config(
        app, host=cfg.server.listen_address, port=cfg.server.http_port, log_level="warning",
        access_log=False, lifespan="on", timeout_graceful_shutdown=30,
    ))
    log.info("listening on http://%s:%d", cfg.server.listen_address, cfg.server.http_port)
    server.run()
    return 0
