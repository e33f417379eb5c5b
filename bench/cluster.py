"""Cluster: the distributed write and read paths against `all` mode, on the same machine and feed.

`python -m bench.run --only cluster [--quick]`:
1. Ingest: the ingest bench's precomputed remote-write feed, pushed by the same client
   processes into an `all`-mode server and into the distributor of a cluster (etcd, 3
   ingesters with replication factor 3, 2 store gateways, a querier), each time fresh.
   Samples/s on the client's clock; CPU-seconds of every server process, so the report
   shows where the cluster spends its CPU (the distributor, each ingester); the accepted
   count is read back from the servers' own metrics.
2. Queries: the query bench's data set (its `--quick` size by default) loaded into both,
   flushed, and the query bench's heavy PromQL queries timed through the cluster's
   querier (Flight fan-out to ingesters and store gateways) and through `all` mode; the
   answers are compared.
3. Profile: the distributed write path in one process and one thread (distributor and
   three ingesters, each push handed to the ingester's gRPC servicer in-line), under
   cProfile, split into decode, hashing, protobuf, Arrow building and IPC, WAL (write and
   fsync) and head; gRPC itself is the difference between that run and the same feed
   over real loopback gRPC.

The cluster's bucket is a local directory shared by its processes (as the `all` server's
is), so the comparison measures distribution, not S3.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import httpx
import yaml

from bench import targets
from bench.client import LoadConfig, send_all
from bench.feed import Feed
from bench.query import QUERIES, QueryConfig, build_query_feed, compare
from bench.targets import HOST, Target, free_port, wait_for_quiet
from tsdb.localcluster.etcd import EtcdServer

ROLES = (("ingester", 3), ("store-gateway", 2), ("querier", 1), ("distributor", 1))


@dataclass(frozen=True)
class ClusterBenchConfig:
    concurrency: int = 4
    rounds: int = 3
    query: QueryConfig = field(default_factory=lambda: QueryConfig.quick(runs=3))


@dataclass
class Cluster:
    workdir: Path
    etcd: EtcdServer
    processes: dict[str, Target]

    @property
    def distributor(self) -> Target:
        return self.processes["distributor-1"]

    @property
    def querier(self) -> Target:
        return self.processes["querier-1"]

    def ingesters(self) -> list[Target]:
        return [t for n, t in self.processes.items() if n.startswith("ingester-")]

    def cpu_seconds(self) -> dict[str, float]:
        return {n: t.cpu_seconds() for n, t in self.processes.items()}

    def metric(self, name: str, role: str) -> float:
        return sum(t.metric(name) for n, t in self.processes.items() if n.startswith(role))


@contextlib.contextmanager
def cluster(extra: dict | None = None) -> Iterator[Cluster]:
    """etcd and one process per service, on a shared local bucket; always stopped by PID."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-cluster-", dir=os.environ.get("MYTSDB_BENCH_TMP")))
    etcd = EtcdServer(workdir / "etcd").start()
    processes: dict[str, Target] = {}
    try:
        config = {"storage": {"backend": "filesystem", "filesystem": {"directory": str(workdir / "bucket")}},
                  "ring": {"kvstore": "etcd", "etcd_endpoints": etcd.endpoint, "heartbeat_period": "1s",
                           "poll_period": "200ms"},
                  "store_gateway": {"manifest_refresh": "1s"},
                  "limits": dict(targets.MYTSDB_LIMITS), **(extra or {})}
        if extra and "limits" in extra:
            config["limits"] = {**targets.MYTSDB_LIMITS, **extra["limits"]}
        cfg_path = workdir / "mytsdb.yaml"
        cfg_path.write_text(yaml.safe_dump(config))
        exe = str(Path(os.sys.executable).with_name("mytsdb"))
        for role, count in ROLES:
            for i in range(1, count + 1):
                name = f"{role}-{i}"
                t = Target(name, workdir, free_port(), "/api/v1/push", "/ready", extra={"data_dir": workdir / name})
                t.argv = [exe, role, "--config", str(cfg_path), "--data-dir", str(workdir / name), "--instance-id",
                          name, "--http-port", str(t.port), "--grpc-port", str(free_port()),
                          "--flight-port", str(free_port())]
                processes[name] = t.start()
        yield Cluster(workdir, etcd, processes)
    except BaseException:
        for t in processes.values():
            print(f"  {t.name} log tail:\n{t.log_tail(10)}", flush=True)
        raise
    finally:
        for t in processes.values():
            t.kill()
        etcd.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# --- ingest ----------------------------------------------------------------------------------

def _push(url_port: int, feed: Feed, concurrency: int, cpu) -> dict:
    load = LoadConfig(concurrency, feed.cfg.series_per_request, feed.cfg.slices)
    before = cpu()
    res = send_all(HOST, url_port, "/api/v1/push", feed.bodies, load, label="bench")
    spent = {k: round(v - before[k], 2) for k, v in cpu().items()}
    total = sum(spent.values())
    return {"samples": res.samples, "seconds": round(res.seconds, 3), "samples_per_second": round(res.samples_per_second),
            "errors": res.errors, "server_cpu_seconds": round(total, 2),
            "samples_per_cpu_second": round(res.samples / total) if total else None, "cpu_by_process": spent}


def ingest(feed: Feed, cfg: ClusterBenchConfig) -> dict:
    runs: dict[str, list[dict]] = {"all": [], "cluster": []}
    for r in range(cfg.rounds):
        for kind in ("all", "cluster")[:: 1 if r % 2 == 0 else -1]:
            print(f"[cluster] ingest round {r + 1}/{cfg.rounds}, {kind}: {feed.cfg.n_samples:,} samples", flush=True)
            wait_for_quiet()
            if kind == "all":
                with targets.running("mytsdb") as t:
                    res = _push(t.port, feed, cfg.concurrency, lambda: {"all": t.cpu_seconds()})
                    res["accepted_samples"] = int(t.metric("mytsdb_ingester_ingested_samples_total"))
            else:
                with cluster() as c:
                    res = _push(c.distributor.port, feed, cfg.concurrency, c.cpu_seconds)
                    # The distributor counts samples a quorum (2 of 3) acknowledged; the ingesters count
                    # their appends. The third replica's push finishes after the client's answer (or
                    # times out under load: `distributor.remote_timeout`), so its count is reported apart.
                    res["accepted_samples"] = int(c.distributor.metric("mytsdb_ingester_ingested_samples_total"))
                    copies = _settled(lambda: c.metric("mytsdb_ingester_ingested_samples_total", "ingester"),
                                      3 * feed.cfg.n_samples, timeout_s=10) / feed.cfg.n_samples
                    res["copies_per_sample"] = round(copies, 4)
            if res["errors"] or res["accepted_samples"] != feed.cfg.n_samples:
                raise RuntimeError(f"{kind} did not accept the whole feed: {res}")
            print(f"  {kind}: {res['samples_per_second']:,} samples/s, {res['server_cpu_seconds']} CPU-s "
                  f"{res['cpu_by_process']}", flush=True)
            runs[kind].append(res)
    out: dict = {"samples": feed.cfg.n_samples, "rounds": cfg.rounds, "concurrency": cfg.concurrency}
    for kind, rs in runs.items():
        out[kind] = {"samples_per_second": round(statistics.median(x["samples_per_second"] for x in rs)),
                     "samples_per_cpu_second": round(statistics.median(x["samples_per_cpu_second"] for x in rs)),
                     "cpu_by_process": rs[len(rs) // 2]["cpu_by_process"], "runs": rs}
    out["ratio"] = round(out["cluster"]["samples_per_second"] / out["all"]["samples_per_second"], 3)
    out["cpu_ratio"] = round(out["cluster"]["samples_per_cpu_second"] / out["all"]["samples_per_cpu_second"], 3)
    return out


def _settled(read, want: float, timeout_s: float = 30.0) -> float:
    deadline = time.monotonic() + timeout_s
    value = read()
    while value < want and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    return value


# --- queries ---------------------------------------------------------------------------------

def _load(url_port: int, feed: Feed, concurrency: int, flush_urls: list[str]) -> float:
    t0 = time.monotonic()
    res = send_all(HOST, url_port, "/api/v1/push", feed.bodies, LoadConfig(concurrency, feed.cfg.series_per_request,
                                                                         feed.cfg.slices), label="load")
    if res.errors:
        raise RuntimeError(f"load failed: {res.first_error}")
    for url in flush_urls:
        httpx.post(url + "/ingester/flush?wait=true", timeout=900).raise_for_status()
    return time.monotonic() - t0


def _time(client: httpx.Client, url: str, query: str, start_s: int, end_s: int, step_s: int) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = client.get(url + "/api/v1/query_range", params={"query": query, "start": start_s, "end": end_s,
                                                       "step": step_s}, headers={"X-Scope-OrgID": "anonymous"})
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
        row = {"name": name, "query": expr, "series": len(answers["all"]["result"]),
               "all_median_s": round(statistics.median(times["all"]), 3),
               "cluster_median_s": round(statistics.median(times["cluster"]), 3), "agreement": agreement}
        row["ratio"] = round(row["cluster_median_s"] / row["all_median_s"], 2)
        print(f"  {name}: all {row['all_median_s']}s, cluster {row['cluster_median_s']}s "
              f"({row['ratio']}x); {agreement['points_compared']} points compared, "
              f"{agreement['points_differing']} differ", flush=True)
        rows.append(row)
    return rows


def _compact(config: Path, data_dir: Path) -> str:
    """`mytsdb compact --once` over a bucket; its summary line."""
    exe = str(Path(os.sys.executable).with_name("mytsdb"))
    done = subprocess.run([exe, "compact", "--once", "--config", str(config), "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"compaction failed: {done.stderr[-1000:]}")
    return done.stdout.strip().splitlines()[-1]


def queries(cfg: ClusterBenchConfig) -> dict:
    """Heavy queries on L0 files (the cluster's bucket holds RF=3 copies of every sample, as
    the ingesters flushed them), then again after `mytsdb compact --once` on both buckets
    (one deduplicated L1 file per 2 h block)."""
    q = cfg.query
    now = int(time.time() * 1000)
    end_ms = (now - 7_000) // q.step_ms * q.step_ms + 7_000
    end_s = (end_ms // 1000 - 30) // 60 * 60 + 30
    start_s = end_s - q.hours * 3600
    feed = build_query_feed(q, end_ms)
    out: dict = {"config": asdict(q), "samples": feed.cfg.n_samples}
    with targets.running("mytsdb") as m, cluster({"limits": {"out_of_order_time_window": "100y"}}) as c:
        print(f"[cluster] loading {feed.cfg.n_samples:,} samples into all mode and the cluster", flush=True)
        out["load_seconds"] = {"all": round(_load(m.port, feed, q.concurrency, [m.url]), 1),
                               "cluster": round(_load(c.distributor.port, feed, q.concurrency,
                                                      [t.url for t in c.ingesters()]), 1)}
        del feed
        urls = {"all": m.url, "cluster": c.querier.url}
        with httpx.Client(timeout=600) as client:
            print("[cluster] queries on L0 files", flush=True)
            out["queries"] = _time_all(client, q, urls, start_s, end_s)
            out["compaction"] = {"all": _compact(m.workdir / "mytsdb.yaml", m.extra["data_dir"]),
                                 "cluster": _compact(c.workdir / "mytsdb.yaml", c.workdir / "compactor")}
            print(f"[cluster] compacted: {out['compaction']}", flush=True)
            time.sleep(2)  # the querier's manifest cache (store_gateway.manifest_refresh, 1 s here) moves on
            out["compacted_queries"] = _time_all(client, q, urls, start_s, end_s)
    return out
