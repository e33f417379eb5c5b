"""Cluster queries: the query bench's heavy PromQL queries through a local cluster's querier
against an `all`-mode server holding the same data.

Both get the query bench's data set (its `--quick` size: 6 h of 2,000 series; `--quick`
here: 2 h), pushed through remote write with the same limits (out-of-order window open, as
the query bench has it) and then flushed (`POST /ingester/flush?wait=true` on every
ingester), so both answer from Parquet files in their bucket: `all` mode's on the local
filesystem, the cluster's in SeaweedFS (S3 over loopback) behind its store gateways, whose
disk cache the warm-up run fills. Each query over the whole span, interleaved, median of the
runs; every answer point compared. Then once more after `mytsdb compact --once` on both
buckets: the cluster's L0 holds the three replicas' copies of every sample, L1 one.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import httpx
import yaml

from bench import targets
from bench.client import LoadConfig, send_all
from bench.cluster import ClusterBenchConfig, local_cluster
from bench.feed import Feed
from bench.query import QUERIES, TENANT, QueryConfig, build_query_feed, compare
from bench.targets import HOST, Target

LIMITS = {"out_of_order_time_window": "100y"}


def _load(port: int, feed: Feed, concurrency: int, flush_urls: list[str]) -> dict:
    t0 = time.monotonic()
    res = send_all(HOST, port, "/api/v1/push", feed.bodies,
                   LoadConfig(concurrency, feed.cfg.series_per_request, feed.cfg.slices), label="load")
    if res.errors:
        raise RuntimeError(f"load failed: {res.first_error}")
    t1 = time.monotonic()
    for url in flush_urls:
        httpx.post(url + "/ingester/flush?wait=true", timeout=900).raise_for_status()
    return {"push_seconds": round(t1 - t0, 1), "flush_seconds": round(time.monotonic() - t1, 1)}


def _time(client: httpx.Client, url: str, query: str, start_s: int, end_s: int, step_s: int) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = client.get(url + "/api/v1/query_range", params={"query": query, "start": start_s, "end": end_s,
                                                       "step": step_s}, headers={"X-Scope-OrgID": TENANT})
    elapsed = time.perf_counter() - t0
    doc = r.json()
    if r.status_code != 200 or doc.get("status") != "success":
        raise RuntimeError(f"{url}: HTTP {r.status_code} for {query}: {r.text[:300]}")
    return elapsed, doc["data"]


def _time_all(client: httpx.Client, q: QueryConfig, urls: dict[str, str], start_s: int, end_s: int) -> list[dict]:
    rows = []
    for name, expr in QUERIES:
        times: dict[str, list[float]] = {kind: [] for kind in urls}
        answers = {}
        for run in range(q.warmup + q.runs):
            for kind, url in urls.items():
                elapsed, data = _time(client, url, expr, start_s, end_s, q.query_step_s)
                if run >= q.warmup:
                    times[kind].append(elapsed)
                answers[kind] = data
        agreement = compare(answers["all"], answers["cluster"], settled_s=0)  # every point counts
        agreement["equal"] = not (agreement["points_differing"] or agreement["points_only_in_one"]
                                  or agreement["series_only_in_one"])
        row = {"name": name, "query": expr, "series": len(answers["all"]["result"]),
               "all_median_s": round(statistics.median(times["all"]), 3),
               "cluster_median_s": round(statistics.median(times["cluster"]), 3), "agreement": agreement}
        row["ratio"] = round(row["cluster_median_s"] / row["all_median_s"], 2)
        print(f"  {name}: all {row['all_median_s']}s, cluster {row['cluster_median_s']}s ({row['ratio']}x); "
              f"{agreement['points_compared']:,} points compared, "
              f"{'equal' if agreement['equal'] else 'ANSWERS DIFFER'}", flush=True)
        rows.append(row)
    return rows


def _compact(config: Path, data_dir: Path) -> str:
    """`mytsdb compact --once` over a bucket; its summary line."""
    exe = str(Path(sys.executable).with_name("mytsdb"))
    done = subprocess.run([exe, "compact", "--once", "--config", str(config), "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"compaction failed: {done.stderr[-1000:]}")
    return done.stdout.strip().splitlines()[-1]


def _configure(t: Target) -> None:
    (t.workdir / "mytsdb.yaml").write_text(yaml.safe_dump({"limits": {**targets.MYTSDB_LIMITS, **LIMITS}}))


def queries(cfg: ClusterBenchConfig) -> dict:
    q = cfg.query
    now = int(time.time() * 1000)
    end_ms = (now - 7_000) // q.step_ms * q.step_ms + 7_000  # the query bench's off-grid timestamps
    end_s = (end_ms // 1000 - 30) // 60 * 60 + 30
    start_s = end_s - q.hours * 3600
    feed = build_query_feed(q, end_ms)
    out: dict = {"config": asdict(q), "samples": feed.cfg.n_samples}
    with targets.running("mytsdb", configure=_configure) as m, local_cluster(LIMITS) as c:
        print(f"[cluster] loading {feed.cfg.n_samples:,} samples into all mode and the cluster", flush=True)
        out["load"] = {"all": _load(m.port, feed, q.concurrency, [m.url]),
                       "cluster": _load(c.distributor.port, feed, q.concurrency,
                                        [t.url for t in c.of_role("ingester")])}
        print(f"  loaded and flushed: {out['load']}", flush=True)
        del feed
        urls = {"all": m.url, "cluster": c.querier_url}
        with httpx.Client(timeout=600) as client:
            print("[cluster] queries on the flushed (L0) files", flush=True)
            out["queries"] = _time_all(client, q, urls, start_s, end_s)
            scratch = c.workdir / "compact"
            scratch.mkdir()
            out["compaction"] = {"all": _compact(m.workdir / "mytsdb.yaml", m.extra["data_dir"]),
                                 "cluster": _compact(c.data_dir / "mytsdb.yaml", scratch)}
            print(f"[cluster] compacted: {out['compaction']}", flush=True)
            time.sleep(2)  # the queriers' and store gateways' manifest refresh (1 s here)
            print("[cluster] queries after compaction", flush=True)
            out["compacted_queries"] = _time_all(client, q, urls, start_s, end_s)
    return out
