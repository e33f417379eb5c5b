"""The process's own Prometheus metrics, served on `/metrics`.

One `Metrics` object per process, holding its own registry: no module-level metric
objects, so tests can build many servers in one process.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_SLOW = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.received_samples = Counter("mytsdb_distributor_received_samples_total",
                                        "Samples received in remote-write requests.", ["tenant"], registry=r)
        self.received_requests = Counter("mytsdb_distributor_requests_total",
                                         "Remote-write requests by HTTP status.", ["status"], registry=r)
        self.discarded_samples = Counter("mytsdb_discarded_samples_total",
                                         "Samples rejected, by reason (Mimir's names).", ["tenant", "reason"],
                                         registry=r)
        self.deduped_samples = Counter("mytsdb_distributor_deduped_samples_total",
                                       "Samples dropped by HA-pair dedup (a non-elected replica's).",
                                       ["tenant", "cluster"], registry=r)
        self.ha_elected_changes = Counter("mytsdb_distributor_ha_tracker_elected_replica_changes_total",
                                          "Elections of a new replica by this distributor.", ["tenant", "cluster"],
                                          registry=r)
        self.ingested_samples = Counter("mytsdb_ingester_ingested_samples_total",
                                        "Samples appended to the head.", ["tenant"], registry=r)
        self.push_seconds = Histogram("mytsdb_distributor_push_duration_seconds",
                                      "Time to handle a remote-write request.", buckets=_FAST, registry=r)
        self.wal_fsync_seconds = Histogram("mytsdb_ingester_wal_fsync_duration_seconds",
                                           "Time a push waited for its WAL fsync.", buckets=_FAST, registry=r)
        self.wal_replay_seconds = Histogram("mytsdb_ingester_wal_replay_duration_seconds",
                                            "WAL replay time per tenant at start-up.", buckets=_SLOW, registry=r)
        self.wal_torn_tails = Counter("mytsdb_ingester_wal_torn_tails_total",
                                      "Torn WAL tails skipped during replay.", registry=r)
        self.flushes = Counter("mytsdb_ingester_flushes_total", "Head flushes by outcome.", ["outcome"], registry=r)
        self.flush_seconds = Histogram("mytsdb_ingester_flush_duration_seconds", "Time to flush a head.",
                                       buckets=_SLOW, registry=r)
        self.flushed_samples = Counter("mytsdb_ingester_flushed_samples_total",
                                       "Samples written to Parquet.", registry=r)
        self.flushed_bytes = Counter("mytsdb_ingester_flushed_bytes_total",
                                     "Bytes of Parquet data files written.", registry=r)
        self.head_samples = Gauge("mytsdb_ingester_head_samples", "Samples in the heads (incl. flushing).",
                                  registry=r)
        self.head_series = Gauge("mytsdb_ingester_series_state", "Series whose newest sample is tracked.",
                                 registry=r)
