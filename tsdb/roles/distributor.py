"""`mytsdb distributor`: remote write in, replicated gRPC pushes out."""
from __future__ import annotations

from tsdb.api.app import AppParts
from tsdb.config import Config
from tsdb.distributor import Distributor
from tsdb.ha_tracker import ha_tracker
from tsdb.ingest_rpc.client import IngesterClients
from tsdb.replication import ReplicatedIngesters
from tsdb.roles.base import Role


class DistributorRole(Role):
    name = "distributor"
    ring = "distributor"  # only to count the healthy distributors for the global rate limit

    def __init__(self, cfg: Config, instance_id: str) -> None:
        super().__init__(cfg, instance_id)
        self.clients = IngesterClients()
        target = ReplicatedIngesters(self.watchers["ingester"], self.clients, cfg.ring.replication_factor,
                                     cfg.distributor.remote_timeout / 1000)
        self.distributor = Distributor(cfg, target, self.metrics, distributors=self.healthy_distributors,
                                       ha_tracker=ha_tracker(cfg, self.kv))

    def healthy_distributors(self) -> int:
        ring = self.watchers["distributor"].ring()
        return max(1, sum(1 for i in ring.instances if ring.healthy(i)))

    def stop_role(self) -> None:
        self.clients.close()

    def not_ready(self) -> str | None:
        ring = self.watchers["ingester"].ring()
        if not any(ring.healthy(i) for i in ring.instances):
            return "no healthy ingester in the ring"
        return None

    def parts(self) -> AppParts:
        return self.base_parts(distributor=self.distributor)
