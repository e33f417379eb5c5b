"""What the analytics benchmarks share: a fresh `mytsdb all` loaded with the node-exporter-like
set (`bench.compaction.node_feed`) three days ago by remote write, flushed per 2 h of data,
and the median-of-runs timer they report with."""
from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from bench import backfill, targets
from bench.compaction import FILE_STEPS, node_feed
from bench.compactor_run import TENANT, manifest_files, write_config

DAY = 86_400_000
STEP_MS = 15_000


@dataclass(frozen=True)
class Loaded:
    """A running server holding the data, and where the data is."""

    target: Any           # bench.targets' running target (`url`, `argv`, `extra`)
    start_ms: int         # the first sample's time
    load: list[dict]      # the load's figures, one per copy written
    entries: list         # the manifest's files (`tsdb.manifest.FileEntry`)

    @property
    def bucket(self) -> Path:
        return self.target.extra["data_dir"] / "bucket"

    @property
    def files(self) -> list[str]:
        return [str(self.bucket / e.path) for e in self.entries]

    @property
    def flight_port(self) -> int:
        return int(self.target.argv[self.target.argv.index("--flight-port") + 1])

    def flight_sql(self):
        """An ADBC Flight SQL connection as the tenant."""
        import adbc_driver_flightsql.dbapi as flight_sql

        return flight_sql.connect(f"grpc://127.0.0.1:{self.flight_port}",
                                  db_kwargs={"adbc.flight.sql.rpc.call_header.x-scope-orgid": TENANT})


@contextlib.contextmanager
def loaded(label: str, series: int, steps: int, concurrency: int, copies: int = 1) -> Iterator[Loaded]:
    """`series` x `steps` samples at 15 s from the start of the day three days ago, written
    `copies` times (each copy's files overlap the others')."""
    start = (int(time.time() * 1000) // DAY - 3) * DAY
    print(f"[{label}] {series:,} series x {steps} steps x {copies} = {series * steps * copies:,} rows", flush=True)
    feed = node_feed(series, start, steps)
    with targets.running("mytsdb", lambda t: write_config(t.workdir / "mytsdb.yaml", series)) as t:
        load = [backfill.load_flushed(t, feed, steps, FILE_STEPS, concurrency) for _ in range(copies)]
        del feed
        entries = manifest_files(t.workdir / "mytsdb.yaml", t.extra["data_dir"])
        print(f"[{label}] {len(entries)} files, {sum(e.rows for e in entries):,} rows", flush=True)
        yield Loaded(t, start, load, entries)


def median_run(label: str, runs: int, work: Callable[[], int]) -> dict:
    """`work()` (which returns its row count) `runs` times: the median time and its rows/s."""
    seconds, rows = [], 0
    for i in range(runs):
        t0 = time.perf_counter()
        rows = work()
        seconds.append(time.perf_counter() - t0)
        print(f"  {label} {i + 1}/{runs}: {rows:,} rows in {seconds[-1]:.2f}s ({rows / seconds[-1]:,.0f} rows/s)",
              flush=True)
    med = statistics.median(seconds)
    return {"rows": rows, "seconds": round(med, 3), "rows_per_second": round(rows / med),
            "seconds_range": [round(min(seconds), 3), round(max(seconds), 3)]}
