"""Heavy PromQL queries on a compacted day against the same day as flushed, in `mytsdb all`.

The query bench's data set and queries (`bench/query.py`: a fleet of HTTP services; 2,000
series, 24 h at 15 s = 11.5M samples, `--quick` 6 h), placed in a UTC day that closed more
than `compactor.day_close_delay` ago and loaded by remote write (backfill-shaped requests),
flushed after every 2 h of data: one L0 file per 2 h, as live ingestion leaves a day. Every query
runs over the whole span at step 60 s, 1 warm-up + `runs` timed runs, median; peak RSS is
the server's VmHWM, reset before each query. Then `mytsdb compact --once` (server up) turns
the day into its L2 file and the same queries run again. Compaction must not change an
answer: every point of every answer is compared with the L0 answer.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import httpx
import numpy as np

from bench import backfill, targets
from bench.backfill import BackfillShape
from bench.compaction import DAY, FILE_STEPS
from bench.compactor_run import HOUR, compact_once, manifest_files, write_config
from bench.query import OFF_GRID_MS, QUERIES, _get, _reset_peak, compare, query_labels, query_values
from bench.targets import Target, wait_for_quiet

MB = 1e6


@dataclass(frozen=True)
class CompactedQueryConfig:
    series: int = 2_000
    hours: int = 24
    step_ms: int = 15_000
    query_step_s: int = 60
    warmup: int = 1
    runs: int = 5
    concurrency: int = 4
    seed: int = 7

    @classmethod
    def quick(cls, **kw) -> "CompactedQueryConfig":
        return cls(hours=6, runs=3, **kw)


def _placement(t: Target) -> dict:
    files = manifest_files(t.workdir / "mytsdb.yaml", t.extra["data_dir"])
    return {"files": len(files), "levels": sorted({e.level for e in files}), "rows": sum(e.rows for e in files),
            "bytes": sum(e.bytes for e in files)}


def time_queries(cfg: CompactedQueryConfig, t: Target, start_s: int, end_s: int, label: str) -> list[dict]:
    rows = []
    with httpx.Client(timeout=900) as client:
        for name, query in QUERIES:
            busy = wait_for_quiet()
            _reset_peak(t)
            times, data = [], None
            for r in range(cfg.warmup + cfg.runs):
                sec, data = _get(client, t, query, start_s, end_s, cfg.query_step_s)
                if r >= cfg.warmup:
                    times.append(sec)
            row = {"name": name, "query": query, "median_s": round(statistics.median(times), 4),
                   "runs_s": [round(x, 4) for x in times], "peak_rss_mb": round(t.memory().hwm / MB, 1),
                   "series": len(data["result"]), "other_cpu_cores_before": round(busy, 2), "answer": data}
            print(f"  {label} {name:<19} {row['median_s'] * 1e3:7.0f} ms (runs {min(times) * 1e3:.0f}–"
                  f"{max(times) * 1e3:.0f}), peak RSS {row['peak_rss_mb']:6.0f} MB, {row['series']} series", flush=True)
            rows.append(row)
    return rows


def run(cfg: CompactedQueryConfig) -> dict:
    steps = cfg.hours * HOUR // cfg.step_ms
    day = (int(time.time() * 1000) - DAY - 2 * HOUR - 600_000) // DAY * DAY  # closed `day_close_delay` ago
    timestamps = day + OFF_GRID_MS + cfg.step_ms * np.arange(steps, dtype=np.int64)
    end_s = (int(timestamps[-1]) // 1000 - 30) // 60 * 60 + 30  # query steps at :30, as the query bench
    start_s = end_s - cfg.hours * 3600
    labels, fam, inst, extra = query_labels(cfg.series)
    values = query_values(steps, cfg.step_ms, timestamps, fam, inst, extra, cfg.seed)
    shape = BackfillShape(series_per_request=2_000 if cfg.series % 2_000 == 0 else 100)
    feed = backfill.build(labels, timestamps, values, shape, fam)
    backfill.check_body(feed, shape, len(feed.bodies) - 1)
    n = feed.cfg.n_samples
    print(f"[compaction-query] {cfg.series:,} series x {cfg.hours} h ({n:,} samples) on "
          f"{time.strftime('%Y-%m-%d', time.gmtime(day / 1000))}, {len(QUERIES)} queries at step {cfg.query_step_s} s",
          flush=True)
    out: dict = {"config": {**asdict(cfg), "samples": n, "query_start": start_s, "query_end": end_s}}

    with targets.running("mytsdb", lambda t: write_config(t.workdir / "mytsdb.yaml", cfg.series)) as t:
        out["load"] = backfill.load_flushed(t, feed, steps, FILE_STEPS, cfg.concurrency)
        del feed
        out["l0"] = _placement(t)
        if out["l0"]["rows"] != n:
            raise RuntimeError(f"MyTSDB flushed {out['l0']['rows']:,} of {n:,} samples")
        print(f"[compaction-query] L0: {out['l0']['files']} files; timing", flush=True)
        l0 = time_queries(cfg, t, start_s, end_s, "L0")
        out["compaction"] = compact_once(t.workdir / "mytsdb.yaml", t.extra["data_dir"])
        time.sleep(2)
        out["l2"] = _placement(t)
        if out["l2"]["levels"] != [2] or out["l2"]["rows"] != n:
            raise RuntimeError(f"after compaction the day is {out['l2']}")
        print(f"[compaction-query] compacted: {out['compaction']['summary']}", flush=True)
        l2 = time_queries(cfg, t, start_s, end_s, "L2")
    out["queries"] = []
    for a, b in zip(l0, l2):
        check = compare(a.pop("answer"), b.pop("answer"), settled_s=0)  # every point counts
        check["equal"] = not (check["points_differing"] or check["points_only_in_one"] or check["series_only_in_one"])
        out["queries"].append({"name": a["name"], "query": a["query"], "l0": a, "l2": b,
                               "ratio": round(b["median_s"] / a["median_s"], 3), "check": check})
        print(f"  {a['name']}: L2/L0 {b['median_s'] / a['median_s']:.2f}, {check['points_compared']:,} points, "
              f"{'equal' if check['equal'] else 'ANSWERS DIFFER'}", flush=True)
    return out
