"""`all` mode's ring: its one ingester in an in-memory KV store, so the ring pages show
the same shape as a cluster's (one ACTIVE instance owning 100%)."""
from __future__ import annotations

from fastapi import FastAPI

from tsdb.config import Config
from tsdb.ring.kv import MemoryKV
from tsdb.ring.lifecycler import Lifecycler
from tsdb.ring.pages import add_ring_routes
from tsdb.ring.watcher import RingWatcher


class SingleProcessRing:
    def __init__(self, cfg: Config, instance_id: str) -> None:
        host = cfg.ring.instance_addr or cfg.server.listen_address
        self.prefix = cfg.ring.prefix
        self.kv = MemoryKV()
        self.lifecycler = Lifecycler(self.kv, "ingester", cfg.ring, instance_id, f"{host}:{cfg.server.grpc_port}",
                                     f"{host}:{cfg.server.http_port}", f"{host}:{cfg.server.flight_port}")
        self.watcher = RingWatcher(self.kv, "ingester", cfg.ring)

    def start(self) -> None:
        self.lifecycler.start()
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()
        self.lifecycler.stop()

    def add_routes(self, app: FastAPI) -> None:
        add_ring_routes(app, {"ingester": self.watcher}, self.kv, self.prefix)
