"""What every distributed-mode process has: config, metrics, the rings, its own ring
entry (if its role has a ring), and the HTTP routes every process serves."""
from __future__ import annotations

import logging
from typing import ClassVar

from fastapi import FastAPI

from tsdb.api.app import AppParts
from tsdb.config import Config
from tsdb.metrics import Metrics
from tsdb.ring import InstanceState, Lifecycler, RingWatcher, add_ring_routes, open_kv

log = logging.getLogger(__name__)

RING_NAMES = ("ingester", "store-gateway", "compactor", "distributor")


class Role:
    """Subclasses set `name` and `ring` (the ring they join, or None) and override
    `start_role`, `stop_role`, `parts` and, if they wait for something, `not_ready`."""

    name: ClassVar[str] = ""
    ring: ClassVar[str | None] = None
    join_state: ClassVar[InstanceState] = InstanceState.ACTIVE

    def __init__(self, cfg: Config, instance_id: str) -> None:
        self.cfg = cfg
        self.instance_id = instance_id
        self.metrics = Metrics()
        self.kv = open_kv(cfg.ring)
        self.watchers = {name: RingWatcher(self.kv, name, cfg.ring) for name in RING_NAMES}
        host = cfg.ring.instance_addr or cfg.server.listen_address
        self.lifecycler = None
        if self.ring is not None:
            self.lifecycler = Lifecycler(
                self.kv, self.ring, cfg.ring, instance_id, addr=f"{host}:{cfg.server.grpc_port}",
                http_addr=f"{host}:{cfg.server.http_port}", flight_addr=f"{host}:{cfg.server.flight_port}")
        self.started = False

    @property
    def flight_location(self) -> str:
        return f"grpc+tcp://{self.cfg.server.listen_address}:{self.cfg.server.flight_port}"

    @property
    def grpc_address(self) -> str:
        return f"{self.cfg.server.listen_address}:{self.cfg.server.grpc_port}"

    def start(self) -> None:
        for w in self.watchers.values():
            w.start()
        self.start_role()
        self.started = True
        log.info("%s %s started", self.name, self.instance_id)

    def stop(self) -> None:
        self.stop_role()
        if self.lifecycler is not None:
            self.lifecycler.stop(remove=True)
        for w in self.watchers.values():
            w.stop()
        self.kv.close()
        log.info("%s %s stopped", self.name, self.instance_id)

    def join_ring(self, state: InstanceState | None = None) -> None:
        if self.lifecycler is not None:
            self.lifecycler.start(state=state or self.join_state)

    def ready(self) -> str | None:
        if not self.started:
            return "starting"
        return self.not_ready()

    # -- for subclasses -----------------------------------------------------------------

    def start_role(self) -> None:
        self.join_ring()

    def stop_role(self) -> None:
        pass

    def not_ready(self) -> str | None:
        return None

    def parts(self) -> AppParts:
        return self.base_parts()

    def base_parts(self, **kw) -> AppParts:
        return AppParts(cfg=self.cfg, metrics=self.metrics, start=self.start, stop=self.stop, ready=self.ready,
                        extra_routes=[self._ring_routes], **kw)

    def _ring_routes(self, app: FastAPI) -> None:
        add_ring_routes(app, self.watchers, self.kv, self.cfg.ring.prefix)
