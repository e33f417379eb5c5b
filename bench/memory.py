"""Memory: RSS growth of the head per million samples, MyTSDB against Prometheus.

A fresh server whose head never flushes during the run (MyTSDB: huge
`max_head_samples` and `flush_interval`); RSS is read from /proc/<pid>/status when the
server is idle before the push, half-way, and after it (each after a short settle, so
background work such as Go's GC or the last WAL writes has happened).

- `mb_per_million`: (RSS after − RSS before) / samples, the acceptance figure. It
  includes one-off costs: series creation and whatever the first push loads.
- `marginal_mb_per_million`: the second half only, i.e. what one more million samples
  cost once every series exists. Meaningful for MyTSDB; Prometheus' RSS follows Go's GC
  cycles (it can even shrink), so there no ratio is formed from it.
- `peak_mb_per_million`: VmHWM instead of the final RSS, because a head that needs
  transient copies costs that peak in production.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from bench.feed import Feed
from bench.ingest import push
from bench.targets import running

NO_FLUSH = {"max_head_samples": 1_000_000_000, "flush_interval": "1000h"}
SETTLE_S = 2.0
MB = 1e6


@dataclass(frozen=True)
class MemoryConfig:
    concurrency: int = 4


def run(feed: Feed, cfg: MemoryConfig) -> dict:
    n = feed.cfg.n_samples
    mid = feed.cfg.n_steps // 2 * feed.cfg.slices           # first request of the second half
    n_second = n - mid * feed.cfg.series_per_request
    out: dict = {"config": {**asdict(cfg), "samples": n, "second_half_samples": n_second,
                            "mytsdb_ingester": NO_FLUSH}}
    for kind, kwargs in (("mytsdb", {"ingester": NO_FLUSH}), ("prometheus", {})):
        print(f"[memory] {kind}: pushing {n:,} samples into a head that does not flush", flush=True)
        with running(kind, **kwargs) as target:
            time.sleep(SETTLE_S)
            before = target.memory()
            push(target, feed, cfg.concurrency, slice(0, mid))
            time.sleep(SETTLE_S)
            half = target.memory()
            pushed = push(target, feed, cfg.concurrency, slice(mid, None))
            time.sleep(SETTLE_S)
            after = target.memory()
        if pushed["accepted_samples"] != n:
            raise RuntimeError(f"{kind} accepted {pushed['accepted_samples']:,} of {n:,} samples")
        r = {"rss_before_mb": before.rss / MB, "rss_half_mb": half.rss / MB, "rss_after_mb": after.rss / MB,
             "hwm_after_mb": after.hwm / MB,
             "mb_per_million": (after.rss - before.rss) / MB / (n / 1e6),
             "marginal_mb_per_million": (after.rss - half.rss) / MB / (n_second / 1e6),
             "peak_mb_per_million": (after.hwm - before.rss) / MB / (n / 1e6)}
        out[kind] = {k: round(v, 2) for k, v in r.items()}
        print(f"  {kind}: RSS {r['rss_before_mb']:.0f} -> {r['rss_half_mb']:.0f} -> {r['rss_after_mb']:.0f} MB "
              f"(peak {r['hwm_after_mb']:.0f}): {r['mb_per_million']:.1f} MB per million samples, "
              f"{r['marginal_mb_per_million']:.1f} marginal", flush=True)
    out["ratio"] = round(out["mytsdb"]["mb_per_million"] / max(out["prometheus"]["mb_per_million"], 1e-9), 3)
    ref = out["prometheus"]["marginal_mb_per_million"]
    out["marginal_ratio"] = round(out["mytsdb"]["marginal_mb_per_million"] / ref, 3) if ref > 1 else None
    return out
