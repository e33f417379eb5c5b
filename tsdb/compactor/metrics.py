"""The compactor's figures on `/metrics`: backlog, pass durations, jobs and failures."""
from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class CompactorMetrics:
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        r = self.registry
        self.backlog = Gauge("mytsdb_compactor_backlog_jobs", "Compaction jobs planned and not yet run.", registry=r)
        self.passes = Counter("mytsdb_compactor_passes_total", "Compaction passes by outcome.", ["outcome"], registry=r)
        self.pass_seconds = Histogram("mytsdb_compactor_pass_duration_seconds", "Duration of compaction passes.",
                                      buckets=(0.1, 1, 10, 60, 300, 900, 1800, 3600, 7200), registry=r)
        self.jobs = Counter("mytsdb_compactor_jobs_total", "Compaction jobs by outcome.", ["outcome"], registry=r)
        self.rows_read = Counter("mytsdb_compactor_rows_read_total", "Rows merged, duplicates included.", registry=r)
        self.rows_written = Counter("mytsdb_compactor_rows_written_total", "Rows written to compacted files.",
                                    registry=r)
