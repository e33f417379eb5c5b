"""Compaction: bytes/sample of a compacted day against Prometheus' compacted block of the same
data, and the compactor's throughput and peak memory. (Query latency on L0 against compacted
files: `bench/compaction_query.py`.)

Data: the disk bench's node-exporter-like set (`bench.feed`: 50 metric names, 100 series per
instance; 10,000 series, `--quick` 2,000) at 15 s over an 18 h span S..S+18h, with S a multiple
of 18 h (Prometheus aligns an 18 h block there) inside one UTC day that closed more than
`day_close_delay` ago. Loaded by remote write with backfill-shaped requests (`bench.backfill`).

- Prometheus (default flags: block ranges 2h, 6h, 18h) gets the span plus `lead_hours` more, so
  that its head cuts the span's 2 h blocks and one after it (the newest block is never compacted);
  its own compactor then merges them into 6 h and one 18 h block. We wait for that block and
  count its `chunks/` + `index`, as the disk bench does, and check it holds every sample.
- MyTSDB (`mytsdb all`) gets the span, flushed after every 2 h of data (one L0 file per 2 h, as
  live ingestion leaves a day), and is stopped; `mytsdb compact --once` then merges the closed
  day's L0 files into its L2 file. Counted: the L2 data file(s) in the manifest, sidecars apart,
  and per column from the Parquet footer.
- Compaction (`bench/compactor_run.py`) runs `runs` times on a copy of the L0 bucket, median:
  samples/s over the compactor's own pass time, CPU time, peak RSS (VmHWM). The same on
  `scale_series` series (the main set is 4x its samples), with `compactor.merge_batch_samples`
  at its default (1 Mi) and at 4 Mi, and on an empty bucket (interpreter and imports alone),
  shows whether memory grows with the day or stays bounded by the batch size.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench import backfill, targets
from bench.backfill import BackfillShape
from bench.compactor_run import HOUR, L0Copy, compact_once, compaction_runs, stored, write_config
from bench.feed import FeedConfig, series_labels, series_values

DAY = 86_400_000
STEP_MS = 15_000
FILE_STEPS = 2 * HOUR // STEP_MS  # one L0 file per 2 h of data
OTHER_BATCH = 4 * 1024 ** 2       # the second `compactor.merge_batch_samples` tried (default 1 Mi)


@dataclass(frozen=True)
class CompactionConfig:
    series: int = 10_000
    hours: int = 18                 # the compared span: one Prometheus block range
    lead_hours: int = 4             # Prometheus only: data after the span, so the span gets compacted
    scale_series: int = 2_500       # the 1x data set of the memory check (the main set is 4x)
    runs: int = 3                   # compactions per data set and setting, median reported
    concurrency: int = 4
    compactor: dict = field(default_factory=dict)  # compactor settings (defaults if empty)

    @classmethod
    def quick(cls, **kw) -> "CompactionConfig":
        return cls(series=2_000, scale_series=500, runs=2, **kw)


def shape_for(series: int) -> BackfillShape:
    return BackfillShape(series_per_request=math.gcd(series, 2_000))


def span_start(now_ms: int, hours: int, lead_hours: int, close_ms: int = 2 * HOUR) -> int:
    """The latest multiple S of `hours` h whose span lies in one UTC day that closed `close_ms`
    (plus a margin) ago, with the lead after it in the past too."""
    r = hours * HOUR
    s = (now_ms - (hours + lead_hours) * HOUR) // r * r
    while True:
        day_end = (s // DAY + 1) * DAY
        if s + r <= day_end and day_end + close_ms + 600_000 <= now_ms and s + (hours + lead_hours) * HOUR <= now_ms:
            return s
        s -= r


def node_feed(series: int, start_ms: int, steps: int):
    labels, kinds = series_labels(series)
    values = series_values(FeedConfig(series, steps), kinds)
    timestamps = start_ms + STEP_MS * np.arange(steps, dtype=np.int64)
    shape = shape_for(series)
    feed = backfill.build(labels, timestamps, values, shape, kinds)
    backfill.check_body(feed, shape, 0)
    backfill.check_body(feed, shape, len(feed.bodies) - 1)
    return feed


# --- MyTSDB ----------------------------------------------------------------------------------

def mytsdb_day(feed, steps: int, cfg: CompactionConfig, columns: bool) -> dict:
    """Load the first `steps` steps into a fresh `mytsdb all` (a flush per 2 h of data), stop
    it, then compact the L0 bucket `runs` times with the default batch size and with
    OTHER_BATCH."""
    n = len(feed.labels) * steps
    series = len(feed.labels)
    out: dict = {}
    with targets.running("mytsdb", lambda t: write_config(t.workdir / "mytsdb.yaml", series)) as t:
        out["load"] = backfill.load_flushed(t, feed, steps, FILE_STEPS, cfg.concurrency)
        accepted = int(t.metric("mytsdb_ingester_ingested_samples_total"))
        if accepted != n:
            raise RuntimeError(f"MyTSDB accepted {accepted:,} of {n:,} samples")
        t.kill()  # the compactor works on the bucket alone
        data_dir = t.extra["data_dir"]
        config = write_config(t.workdir / "mytsdb.yaml", series, cfg.compactor)
        out["l0"] = stored(config, data_dir)
        if out["l0"]["rows"] != n:
            raise RuntimeError(f"MyTSDB flushed {out['l0']['rows']:,} of {n:,} samples")
        print(f"[compaction] MyTSDB: {n:,} samples in {out['l0']['files']} L0 files, "
              f"{out['l0']['data_bytes'] / n:.3f} B/sample", flush=True)
        copy = L0Copy(data_dir)
        out["compaction"] = compaction_runs(config, copy, cfg.runs, f"compaction ({series:,} series)")
        out["l2"] = stored(config, data_dir, columns=columns)
        if out["l2"]["rows"] != n or out["l2"]["levels"] != [2]:
            raise RuntimeError(f"compacted day holds {out['l2']['rows']:,} rows at levels {out['l2']['levels']}")
        other = write_config(t.workdir / "other-batch.yaml", series, {**cfg.compactor, "merge_batch_samples": OTHER_BATCH})
        out["compaction_other_batch"] = compaction_runs(other, copy, cfg.runs, "  merge_batch_samples 4 Mi")
        copy.drop()
    for level in ("l0", "l2"):
        s = out[level]
        s["bytes_per_sample"] = round(s["data_bytes"] / n, 4)
        s["bytes_per_sample_with_sidecars"] = round((s["data_bytes"] + s["sidecar_bytes"]) / n, 4)
    return out


def idle_compactor() -> dict:
    """`mytsdb compact --once` over an empty bucket: the interpreter and imports alone."""
    import os
    import tempfile
    with tempfile.TemporaryDirectory(prefix="bench-compact-", dir=os.environ.get("MYTSDB_BENCH_TMP")) as d:
        data = Path(d) / "data"
        data.mkdir()
        return compact_once(write_config(Path(d) / "mytsdb.yaml", 1), data)


# --- Prometheus ------------------------------------------------------------------------------

def _blocks(data_dir: Path) -> list[tuple[Path, dict]]:
    return [(d, json.loads((d / "meta.json").read_text())) for d in data_dir.iterdir()
            if d.is_dir() and (d / "meta.json").exists()]


def block_size(block: Path, meta: dict) -> dict:
    """A block's cost as the disk bench counts it: `chunks/` + `index`."""
    chunks = sum(p.stat().st_size for p in (block / "chunks").iterdir())
    index = (block / "index").stat().st_size
    n = meta["stats"]["numSamples"]
    return {"chunks_bytes": chunks, "index_bytes": index, "samples": n, "series": meta["stats"]["numSeries"],
            "chunks": meta["stats"]["numChunks"], "hours": (meta["maxTime"] - meta["minTime"]) / HOUR,
            "level": meta["compaction"]["level"], "bytes_per_sample": round((chunks + index) / n, 4),
            "chunks_bytes_per_sample": round(chunks / n, 4)}


def prometheus_block(feed, start_ms: int, cfg: CompactionConfig, timeout_s: float = 600) -> dict:
    """Push span + lead into a fresh Prometheus and wait for its compacted block of the span."""
    end_ms = start_ms + cfg.hours * HOUR
    out: dict = {}
    with targets.running("prometheus") as p:
        out["load"] = backfill.load(p, feed.bodies, backfill.samples_per_request(feed), feed.cfg.slices,
                                    cfg.concurrency)
        deadline, t0 = time.monotonic() + timeout_s, time.monotonic()
        while not (found := [(d, m) for d, m in _blocks(p.extra["data_dir"])
                             if m["minTime"] == start_ms and m["maxTime"] == end_ms]):
            if time.monotonic() > deadline:
                have = sorted((m["minTime"] - start_ms) / HOUR for _, m in _blocks(p.extra["data_dir"]))
                raise RuntimeError(f"Prometheus made no {cfg.hours} h block in {timeout_s:.0f}s (blocks at +{have} h)")
            time.sleep(0.5)
        out["wait_seconds"] = round(time.monotonic() - t0, 1)
        out["block"] = block_size(*found[0])
        after = [(d, m) for d, m in _blocks(p.extra["data_dir"])
                 if m["minTime"] == end_ms and m["maxTime"] == end_ms + 2 * HOUR]
        if after:
            out["block_2h"] = block_size(*after[0])
        out["compactions"] = int(p.metric("prometheus_tsdb_compactions_total"))
        out["compaction_seconds"] = round(p.metric("prometheus_tsdb_compaction_duration_seconds_sum"), 2)
    return out


# --- the benchmark ---------------------------------------------------------------------------

def run(cfg: CompactionConfig) -> dict:
    start = span_start(int(time.time() * 1000), cfg.hours, cfg.lead_hours)
    steps = cfg.hours * HOUR // STEP_MS
    n = cfg.series * steps
    print(f"[compaction] {cfg.series:,} series x {cfg.hours} h at 15 s ({n:,} samples) from "
          f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(start / 1000))} UTC; Prometheus gets {cfg.lead_hours} h more",
          flush=True)
    out: dict = {"config": {**asdict(cfg), "samples": n, "span_start_ms": start, "other_batch": OTHER_BATCH}}
    feed = node_feed(cfg.series, start, steps + cfg.lead_hours * HOUR // STEP_MS)
    out["prometheus"] = prometheus_block(feed, start, cfg)
    if out["prometheus"]["block"]["samples"] != n:
        raise RuntimeError(f"Prometheus' block holds {out['prometheus']['block']['samples']:,} of {n:,} samples")
    print(f"[compaction] Prometheus: {cfg.hours} h block {out['prometheus']['block']['bytes_per_sample']:.3f} B/sample "
          f"(waited {out['prometheus']['wait_seconds']}s for it)", flush=True)
    out["mytsdb"] = mytsdb_day(feed, steps, cfg, columns=True)
    del feed
    m, p = out["mytsdb"]["l2"], out["prometheus"]["block"]
    out["ratio"] = round(m["bytes_per_sample"] / p["bytes_per_sample"], 3)
    out["ratio_with_sidecars"] = round(m["bytes_per_sample_with_sidecars"] / p["bytes_per_sample"], 3)
    print(f"[compaction] L2 {m['bytes_per_sample']:.3f} B/sample vs Prometheus {p['bytes_per_sample']:.3f}: "
          f"{out['ratio']:.2f}x", flush=True)
    print(f"[compaction] memory check: the same span on {cfg.scale_series:,} series", flush=True)
    small = node_feed(cfg.scale_series, start, steps)
    out["scale"] = mytsdb_day(small, steps, cfg, columns=False)
    del small
    out["idle"] = idle_compactor()
    idle = out["idle"]["peak_rss_mb"]
    for key in ("compaction", "compaction_other_batch"):
        big, little = out["mytsdb"][key]["peak_rss_mb"], out["scale"][key]["peak_rss_mb"]
        out.setdefault("rss_growth", {})[key] = round((big - idle) / max(little - idle, 1.0), 2)
        print(f"[compaction] {key}: peak RSS {little:.0f} MB (1x) vs {big:.0f} MB ({cfg.series // cfg.scale_series}x "
              f"the samples); idle compactor {idle:.0f} MB", flush=True)
    return out
