"""Size: bytes per sample on disk for 2 h of the realistic data set.

MyTSDB: after `POST /ingester/flush?wait=true`, the L0 Parquet data files of the tenant
(`bucket/anonymous/data/**/*.parquet`), and separately with their series sidecars.
Prometheus: its head, written as a block by the admin snapshot API
(`POST /api/v1/admin/tsdb/snapshot`), which compacts the head with the same code as its
2 h block cut; we count the block's `chunks/` + `index` (what a 2 h block costs), and
check that its `meta.json` holds every sample.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import pyarrow.parquet as pq

from bench.feed import Feed
from bench.ingest import push
from bench.targets import Target, running

TENANT = "anonymous"  # MyTSDB's tenant while multitenancy is off


@dataclass(frozen=True)
class SizeConfig:
    concurrency: int = 4


def _tree_bytes(root: Path, pattern: str) -> tuple[int, int]:
    files = [p for p in root.glob(pattern) if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def measure_mytsdb(target: Target) -> dict:
    t0 = time.monotonic()
    r = httpx.post(target.url + "/ingester/flush?wait=true", timeout=600)
    r.raise_for_status()
    flush_s = time.monotonic() - t0
    tenant = target.extra["data_dir"] / "bucket" / TENANT
    data, n_data = _tree_bytes(tenant, "data/**/*.parquet")
    sidecars, n_side = _tree_bytes(tenant, "series/**/*.parquet")
    rows = sum(pq.read_metadata(p).num_rows for p in tenant.glob("data/**/*.parquet"))
    return {"data_bytes": data, "data_files": n_data, "sidecar_bytes": sidecars, "sidecar_files": n_side,
            "rows": rows, "flush_seconds": round(flush_s, 2)}


def measure_prometheus(target: Target) -> dict:
    t0 = time.monotonic()
    r = httpx.post(target.url + "/api/v1/admin/tsdb/snapshot", timeout=600)
    r.raise_for_status()
    snap_s = time.monotonic() - t0
    snap = target.extra["data_dir"] / "snapshots" / r.json()["data"]["name"]
    blocks = [d for d in snap.iterdir() if (d / "meta.json").exists()]
    if len(blocks) != 1:
        raise RuntimeError(f"expected one block in the Prometheus snapshot, found {len(blocks)}")
    block = blocks[0]
    meta = json.loads((block / "meta.json").read_text())
    chunks, n_chunks = _tree_bytes(block, "chunks/*")
    index = (block / "index").stat().st_size
    total, _ = _tree_bytes(block, "**/*")
    return {"chunks_bytes": chunks, "chunk_files": n_chunks, "index_bytes": index, "block_bytes": total,
            "rows": meta["stats"]["numSamples"], "series": meta["stats"]["numSeries"],
            "block_span_ms": meta["maxTime"] - meta["minTime"], "snapshot_seconds": round(snap_s, 2)}


def run(feed: Feed, cfg: SizeConfig) -> dict:
    n = feed.cfg.n_samples
    out: dict = {"config": {**asdict(cfg), "series": feed.cfg.n_series, "steps": feed.cfg.n_steps,
                            "step_ms": feed.cfg.step_ms, "samples": n}}
    for kind, measure in (("mytsdb", measure_mytsdb), ("prometheus", measure_prometheus)):
        print(f"[size] {kind}: pushing {n:,} samples ({feed.cfg.n_series:,} series x {feed.cfg.n_steps} steps)",
              flush=True)
        with running(kind) as target:
            pushed = push(target, feed, cfg.concurrency)
            if pushed["accepted_samples"] != n:
                raise RuntimeError(f"{kind} accepted {pushed['accepted_samples']:,} of {n:,} samples")
            print(f"[size] {kind}: writing to disk", flush=True)
            out[kind] = measure(target)
        if out[kind]["rows"] != n:
            raise RuntimeError(f"{kind} stored {out[kind]['rows']:,} of {n:,} samples")
    m, p = out["mytsdb"], out["prometheus"]
    m["bytes_per_sample"] = round(m["data_bytes"] / n, 4)
    m["bytes_per_sample_with_sidecars"] = round((m["data_bytes"] + m["sidecar_bytes"]) / n, 4)
    p["bytes_per_sample"] = round((p["chunks_bytes"] + p["index_bytes"]) / n, 4)
    p["chunks_bytes_per_sample"] = round(p["chunks_bytes"] / n, 4)
    out["ratio"] = round(m["bytes_per_sample"] / p["bytes_per_sample"], 3)
    out["ratio_with_sidecars"] = round(m["bytes_per_sample_with_sidecars"] / p["bytes_per_sample"], 3)
    for kind in ("mytsdb", "prometheus"):
        print(f"  {kind}: {out[kind]['bytes_per_sample']:.3f} bytes/sample", flush=True)
    return out
