"""Memory: RSS growth of the head per million samples, MyTSDB against Prometheus.

A fresh server whose head never flushes during the run (MyTSDB: huge
`max_head_samples` and `flush_interval`); RSS is read from /proc/<pid>/status once the
server is idle before the push and again after it (after a short settle, so background
work such as Go's GC or the last WAL writes has happened). VmHWM (peak RSS) is reported
beside it, because a head that needs transient copies costs that peak in production.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from bench.feed import Feed
from bench.ingest import push
from bench.targets import running

NO_FLUSH = {"max_head_samples": 1_000_000_000, "flush_interval": "1000h"}
SETTLE_S = 2.0


@dataclass(frozen=True)
class MemoryConfig:
    concurrency: int = 4


def run(feed: Feed, cfg: MemoryConfig) -> dict:
    n = feed.cfg.n_samples
    out: dict = {"config": {**asdict(cfg), "samples": n, "mytsdb_ingester": NO_FLUSH}}
    for kind, kwargs in (("mytsdb", {"ingester": NO_FLUSH}), ("prometheus", {})):
        print(f"[memory] {kind}: pushing {n:,} samples into a head that does not flush", flush=True)
        with running(kind, **kwargs) as target:
            time.sleep(SETTLE_S)
            before = target.memory()
            pushed = push(target, feed, cfg.concurrency)
            time.sleep(SETTLE_S)
            after = target.memory()
            target.stop()
        if pushed["accepted_samples"] != n:
            raise RuntimeError(f"{kind} accepted {pushed['accepted_samples']:,} of {n:,} samples")
        per_m = (after.rss - before.rss) / 1e6 / (n / 1e6)
        peak_per_m = (after.hwm - before.rss) / 1e6 / (n / 1e6)
        out[kind] = {"rss_before_mb": round(before.rss / 1e6, 1), "rss_after_mb": round(after.rss / 1e6, 1),
                     "hwm_after_mb": round(after.hwm / 1e6, 1), "mb_per_million": round(per_m, 2),
                     "peak_mb_per_million": round(peak_per_m, 2)}
        print(f"  {kind}: RSS {before.rss / 1e6:.0f} -> {after.rss / 1e6:.0f} MB (peak {after.hwm / 1e6:.0f}): "
              f"{per_m:.1f} MB per million samples", flush=True)
    out["ratio"] = round(out["mytsdb"]["mb_per_million"] / max(out["prometheus"]["mb_per_million"], 1e-9), 3)
    return out
