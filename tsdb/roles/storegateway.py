"""`mytsdb store-gateway`: the tenant's Parquet files over Arrow Flight, through a
bounded local disk cache. The querier decides which gateway reads which file (the
store-gateway ring), and names the files in each request."""
from __future__ import annotations

from flight.server import QueryFlightServer
from tsdb.config import Config
from tsdb.roles.base import Role
from tsdb.storage.bucket import open_bucket
from tsdb.storegateway import CacheCollector, StoreGateway


class StoreGatewayRole(Role):
    name = "store-gateway"
    ring = "store-gateway"

    def __init__(self, cfg: Config, instance_id: str) -> None:
        super().__init__(cfg, instance_id)
        self.gateway = StoreGateway(cfg, open_bucket(cfg.storage))
        self.metrics.registry.register(CacheCollector(self.gateway.chunk_cache))
        self.flight: QueryFlightServer | None = None

    def start_role(self) -> None:
        self.flight = QueryFlightServer(self.flight_location, self.gateway.backend(), registry=self.metrics.registry)
        self.flight.serve_in_thread()
        self.join_ring()

    def stop_role(self) -> None:
        if self.flight is not None:
            self.flight.shutdown()
