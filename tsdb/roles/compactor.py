"""`mytsdb compactor`: compaction passes over the tenants it owns on the compactor ring.

Tenants are sharded by the hash of their ID on the ring; a tenant-day is also leased in
the bucket, so two compactors that disagree about the ring for a moment still never
compact the same day at once."""
from __future__ import annotations

from tsdb.compactor.compactor import Compactor
from tsdb.compactor.loop import CompactionLoop
from tsdb.compactor.metrics import CompactorMetrics
from tsdb.config import Config
from tsdb.roles.base import Role
from tsdb.storage.bucket import open_bucket
from tsdb.tenancy import Tenant


class CompactorRole(Role):
    name = "compactor"
    ring = "compactor"

    def __init__(self, cfg: Config, instance_id: str) -> None:
        super().__init__(cfg, instance_id)
        self.compactor = Compactor(cfg, open_bucket(cfg.storage), CompactorMetrics(self.metrics.registry),
                                   instance_id=instance_id, owns=self.owns)
        self.loop = CompactionLoop(self.compactor)

    def owns(self, tenant: Tenant) -> bool:
        """This instance is the first healthy compactor clockwise from the tenant's token
        (everyone owns every tenant while the ring has no healthy compactor: the leases
        keep them apart)."""
        ring = self.watchers["compactor"].ring()
        owner = next((i for i in ring.owner_of_string(tenant.id, len(ring)) if ring.healthy(i)), None)
        return owner is None or owner.id == self.instance_id

    def start_role(self) -> None:
        self.join_ring()
        self.loop.start()

    def stop_role(self) -> None:
        self.loop.stop()
