"""Wiring of the library objects that one process runs (`all` mode: every component)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from tsdb.config import Config
from tsdb.distributor import Distributor
from tsdb.ingester import Ingester
from tsdb.manifest import ManifestStore
from tsdb.metrics import Metrics
from tsdb.query.layout import LayoutCache
from tsdb.reader import SeriesReader
from tsdb.replication import LocalIngester
from tsdb.storage.bucket import Bucket, open_bucket


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

    @classmethod
    def build(cls, cfg: Config, instance_id: str = "ingester-1", metrics: Metrics | None = None) -> "Services":
        metrics = metrics or Metrics()
        bucket = open_bucket(cfg.storage)
        ingester = Ingester(cfg.ingester, cfg.wal_dir, bucket, metrics, cfg.limits_for, instance_id)
        return cls(cfg, metrics, bucket, ingester.manifests, ingester, Distributor(cfg, LocalIngester(ingester), metrics),
                   SeriesReader(ingester, bucket, ingester.manifests), LayoutCache())

    def start(self) -> None:
        self.ingester.start()

    def stop(self) -> None:
        self.ingester.stop(flush=True)
