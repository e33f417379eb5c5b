"""Wiring of the library objects that one process runs (`all` mode: every component)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from tsdb.compactor.compactor import Compactor
from tsdb.compactor.loop import CompactionLoop
from tsdb.compactor.metrics import CompactorMetrics
from tsdb.config import Config
from tsdb.distributor import Distributor
from tsdb.ha_tracker import ha_tracker
from tsdb.ingester import Ingester
from tsdb.manifest import ManifestStore
from tsdb.metrics import Metrics
from tsdb.query.layout import LayoutCache
from tsdb.reader import SeriesReader
from tsdb.replication import LocalIngester
from tsdb.ring.kv import MemoryKV
from tsdb.ring.local import SingleProcessRing
from tsdb.storage.bucket import Bucket, open_bucket
from tsdb.storage.diskcache import DiskCache


@dataclass
class Services:
    cfg: Config
    metrics: Metrics
    bucket: Bucket
    manifests: ManifestStore
    ingester: Ingester
    distributor: Distributor
    reader: SeriesReader
    layouts: LayoutCache  # parsed Parquet footers, shared by every query of the process
    extra_routes: list[Callable[[Any], None]] = field(default_factory=list)  # e.g. the ring pages
    ring: SingleProcessRing | None = None  # `all` mode's one-instance ring (pages only)
    chunk_cache: DiskCache | None = None  # `all` mode reads the bucket directly
    compaction: CompactionLoop | None = None  # `all` mode compacts in the background

    @classmethod
    def build(cls, cfg: Config, instance_id: str = "ingester-1", metrics: Metrics | None = None,
              with_ring: bool = False, with_compactor: bool = False) -> "Services":
        metrics = metrics or Metrics()
        bucket = open_bucket(cfg.storage)
        ingester = Ingester(cfg.ingester, cfg.wal_dir, bucket, metrics, cfg.limits_for, instance_id)
        ring = SingleProcessRing(cfg, instance_id) if with_ring else None
        kv = ring.kv if ring is not None else MemoryKV()  # HA elections: the ring's KV store, as in a cluster
        services = cls(cfg, metrics, bucket, ingester.manifests, ingester,
                       Distributor(cfg, LocalIngester(ingester), metrics, ha_tracker=ha_tracker(cfg, kv)),
                       SeriesReader(ingester, bucket, ingester.manifests), LayoutCache())
        if ring is not None:
            services.ring = ring
            services.extra_routes.append(ring.add_routes)
        if with_compactor:
            compactor = Compactor(cfg, bucket, CompactorMetrics(metrics.registry), instance_id=instance_id)
            services.compaction = CompactionLoop(compactor)
        return services

    def start(self) -> None:
        self.ingester.start()
        if self.ring is not None:
            self.ring.start()
        if self.compaction is not None:
            self.compaction.start()

    def stop(self) -> None:
        if self.compaction is not None:
            self.compaction.stop()
        if self.ring is not None:
            self.ring.stop()
        self.ingester.stop(flush=True)
