"""Query: PromQL range-query latency and peak RSS, MyTSDB against Prometheus.

One data set (default 10,000 series, 24 h at 15 s = 57.6M samples; `--quick` 2,000 series,
6 h) is pushed by remote write, in time order, with the ingest bench's precomputed bodies
and concurrent client processes, into a MyTSDB and a Prometheus started for the run. Both
then stay up and answer the same range queries over the whole span at step 60 s, by HTTP
GET `/api/v1/query_range`, timed on the client (request to the last byte of the answer).

The data is a fleet of HTTP services: 5 jobs, 100 series per instance:
`http_requests_total{job, instance, method, handler, status}` counters (diurnal load, a 5xx
incident, a few process restarts), a classic histogram
`http_request_duration_seconds_{bucket,sum,count}{job, instance, method[, le]}`, other
`http_` series and process/Go/app metrics.

- MyTSDB: limits off, `out_of_order_time_window: 100y`, `flush_interval: 2h` and
  `max_head_samples` = 2 h of the data, so the flushes during the load cut about one file per
  2 h of data, as live ingestion would; `POST /ingester/flush?wait=true` at the end, so every
  sample is read from Parquet in the bucket (the placement is reported).
- Prometheus: `storage.tsdb.out_of_order_time_window: 100y`; it cuts its own 2 h blocks during
  the load and keeps the newest hours in its head (the placement is reported).
- Samples lie 7 s off the 15 s grid and query steps 30 s off the minute, so no window edge
  (query steps, `[5m]`, subquery steps at whole minutes, the subquery's `[1h]`) ever falls
  on a sample or a subquery step: Prometheus 2's closed and Prometheus 3's left-open windows
  (MyTSDB's default `compat: v3`) select the same points, and the answers are compared value
  by value, not just series by series.
- Per query: 1 warm-up and 5 timed runs per system, interleaved, median reported; after
  each answer the bench waits until that server's CPU time stops growing (Prometheus' Go GC
  runs on for up to a second after it answers, and on 2 cores it slowed MyTSDB's next query
  2-3x). `cpu_s` is the server's CPU time per query, that tail included, split into user
  and system time with the minor page faults: on this VM first-touch of fresh memory is
  expensive kernel time, and it is what makes MyTSDB's run times vary. Peak RSS is VmHWM
  from /proc, reset (`/proc/<pid>/clear_refs` = 5) before each query.
- The slowest MyTSDB queries are then profiled in-process with cProfile: `Services` built on
  the same data dir, `Engine.range` over `StorageSource` (scan threads off while profiling,
  so all the work is on the profiled thread).
"""
from __future__ import annotations

import contextlib
import cProfile
import io
import json
import math
import os
import pstats
import statistics
import time
from dataclasses import asdict, dataclass
from itertools import product
from pathlib import Path
from typing import Callable

import cramjam
import httpx
import numpy as np
import pyarrow.parquet as pq
import yaml

from bench import targets
from bench.feed import Feed, FeedConfig, _template, _ts_varint, check_body
from bench.ingest import _own_cpu, push
from bench.targets import Target, machine_busy_seconds, wait_for_quiet

TENANT = "anonymous"  # the bench pushes without X-Scope-OrgID, i.e. into this tenant
MB = 1e6
JOBS = ("api", "web", "auth", "billing", "search")
SERIES_PER_INSTANCE = 100
OFF_GRID_MS = 7_000  # sample timestamps = 7 s + multiples of 15 s: no window edge hits a sample

QUERIES: tuple[tuple[str, str], ...] = (
    ("rate", "sum by (job) (rate(http_requests_total[5m]))"),
    ("increase", "sum by (job, status) (increase(http_requests_total[1h]))"),
    ("histogram_quantile", "histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))"),
    ("topk", "topk(10, sum by (instance) (rate(http_requests_total[5m])))"),
    ("ratio", 'sum by (job) (rate(http_requests_total{status=~"5.."}[5m])) / sum by (job) (rate(http_requests_total[5m]))'),
    ("avg_over_time", "avg_over_time(process_resident_memory_bytes[10m])"),
    ("count_regex", 'count by (job) ({__name__=~"http_.+"})'),
    ("subquery", "max_over_time(sum by (job) (rate(http_requests_total[5m]))[1h:1m])"),
    ("raw_matrix", 'http_requests_total{method="GET", status="200"}'),
)


@dataclass(frozen=True)
class QueryConfig:
    series: int = 10_000
    hours: int = 24
    step_ms: int = 15_000           # sample interval
    query_step_s: int = 60
    warmup: int = 1
    runs: int = 5
    concurrency: int = 4            # remote-write client processes
    series_per_request: int = 2_000
    profile: int = 3                # profile this many of MyTSDB's slowest queries
    seed: int = 7

    @classmethod
    def quick(cls, **kw) -> "QueryConfig":
        return cls(series=2_000, hours=6, **kw)

    @property
    def steps(self) -> int:
        return self.hours * 3_600_000 // self.step_ms


# --- the data set --------------------------------------------------------------------------

REQ, COUNTER, FCOUNTER, GAUGE, CONST, BUCKET, HSUM, HCOUNT = range(8)
_METHOD_W = {"GET": 0.8, "POST": 0.2}
_HANDLER_W = {"/": 0.5, "/api": 0.4, "/login": 0.1}
_STATUS_W = {"200": 0.9, "400": 0.04, "404": 0.04, "500": 0.015, "503": 0.005}
_LE = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf")
_JOB_LATENCY = {"api": 0.05, "web": 0.12, "auth": 0.03, "billing": 0.2, "search": 0.08}  # median, s
_SIGMA = 0.8  # log-normal latency spread

# (name, kind, {label: values}, magnitude (rate per s for counters, level for gauges), resolution)
FAMILIES: tuple[tuple[str, int, dict[str, tuple[str, ...]], float, float], ...] = (
    ("http_requests_total", REQ, {"method": tuple(_METHOD_W), "handler": tuple(_HANDLER_W),
                                  "status": tuple(_STATUS_W)}, 0, 1),                        # 30
    ("http_request_duration_seconds_bucket", BUCKET, {"method": tuple(_METHOD_W), "le": _LE}, 0, 1),  # 24
    ("http_request_duration_seconds_sum", HSUM, {"method": tuple(_METHOD_W)}, 0, 0),
    ("http_request_duration_seconds_count", HCOUNT, {"method": tuple(_METHOD_W)}, 0, 1),
    ("http_requests_in_flight", GAUGE, {}, 20.0, 1),
    ("http_response_size_bytes_sum", COUNTER, {"method": tuple(_METHOD_W)}, 2e5, 1),
    ("http_response_size_bytes_count", COUNTER, {"method": tuple(_METHOD_W)}, 20.0, 1),       # 63 http_
    ("process_cpu_seconds_total", FCOUNTER, {}, 0.3, 0.01),
    ("process_resident_memory_bytes", GAUGE, {}, 3e8, 4096),
    ("process_virtual_memory_bytes", GAUGE, {}, 1.5e9, 4096),
    ("process_open_fds", GAUGE, {}, 60.0, 1),
    ("process_max_fds", CONST, {}, 65536.0, 1),
    ("process_start_time_seconds", CONST, {}, 1.7e9, 1),
    ("go_goroutines", GAUGE, {}, 80.0, 1),
    ("go_threads", GAUGE, {}, 12.0, 1),
    ("go_gc_duration_seconds", GAUGE, {"quantile": ("0", "0.25", "0.5", "0.75", "1")}, 1e-4, 0),
    ("go_gc_duration_seconds_sum", FCOUNTER, {}, 1e-3, 0),
    ("go_gc_duration_seconds_count", COUNTER, {}, 0.2, 1),
    ("go_memstats_alloc_bytes", GAUGE, {}, 5e7, 8),
    ("go_memstats_heap_inuse_bytes", GAUGE, {}, 7e7, 8192),
    ("go_memstats_alloc_bytes_total", COUNTER, {}, 2e6, 1),
    ("go_memstats_mallocs_total", COUNTER, {}, 3e4, 1),
    ("go_memstats_frees_total", COUNTER, {}, 3e4, 1),
    ("up", CONST, {}, 1.0, 1),
    ("scrape_duration_seconds", GAUGE, {}, 0.01, 0),
    ("scrape_samples_scraped", CONST, {}, 100.0, 1),
    ("db_connections", GAUGE, {"state": ("idle", "used", "max")}, 20.0, 1),
    ("cache_hits_total", COUNTER, {"cache": ("local", "redis")}, 50.0, 1),
    ("cache_misses_total", COUNTER, {"cache": ("local", "redis")}, 5.0, 1),
    ("queue_length", GAUGE, {"queue": ("email", "export", "webhook")}, 10.0, 1),
    ("jobs_processed_total", COUNTER, {"queue": ("email", "export", "webhook")}, 2.0, 1),
    ("build_info", CONST, {"version": ("1.4.2",)}, 1.0, 1),
)


def query_labels(n_series: int) -> tuple[list[dict[str, str]], np.ndarray, np.ndarray, list[dict[str, str]]]:
    """Label sets (sorted by name), the family index and instance of each series, and its
    family-specific labels."""
    per_instance = [(f, dict(zip(fam[2], combo))) for f, fam in enumerate(FAMILIES) for combo in product(*fam[2].values())]
    assert len(per_instance) == SERIES_PER_INSTANCE, len(per_instance)
    if n_series % SERIES_PER_INSTANCE:
        raise ValueError(f"series must be a multiple of {SERIES_PER_INSTANCE}")
    labels, fam, inst, extra = [], [], [], []
    for i in range(n_series // SERIES_PER_INSTANCE):
        job = JOBS[i % len(JOBS)]
        common = {"job": job, "instance": f"{job}-{i // len(JOBS):02d}.prod:8080"}
        for f, ex in per_instance:
            labels.append(dict(sorted({"__name__": FAMILIES[f][0], **common, **ex}.items())))
            fam.append(f)
            inst.append(i)
            extra.append(ex)
    return labels, np.array(fam, np.int16), np.array(inst, np.int32), extra


def query_values(n_steps: int, step_ms: int, ts: np.ndarray, fam: np.ndarray, inst: np.ndarray,
                 extra: list[dict[str, str]], seed: int) -> np.ndarray:
    """(n_steps, n_series) values. Counters are integers (Poisson increments at a diurnal
    rate; CPU seconds to 0.01), histogram buckets cumulative in `le` and in time, a few
    instances restart once (every counter of it resets), gauges are quantised random walks."""
    rng = np.random.default_rng(seed)
    n = len(fam)
    n_inst = int(inst.max()) + 1
    kind = np.array([FAMILIES[f][1] for f in fam], np.int8)
    mag = np.array([FAMILIES[f][3] for f in fam])
    res = np.array([FAMILIES[f][4] for f in fam])
    job = inst % len(JOBS)
    dt = step_ms / 1000
    out = np.empty((n_steps, n), np.float64)

    # Load: per instance base request rate (req/s), diurnal by job, a 5xx incident on billing.
    base = rng.lognormal(np.log(15), 0.5, n_inst)
    phase = np.linspace(0, 2 * np.pi, len(JOBS), endpoint=False)
    hours = (ts / 3_600_000.0) % 24
    diurnal = 1 + 0.5 * np.sin(2 * np.pi * hours[:, None] / 24 + phase[None, :])      # (steps, jobs)
    load = diurnal[:, job] * base[inst][None, :]                                        # (steps, n)

    def w(key: str, table: dict[str, float]) -> np.ndarray:
        return np.array([table.get(e.get(key, ""), 1.0) for e in extra])

    req_rate = load * (w("method", _METHOD_W) * w("handler", _HANDLER_W) * w("status", _STATUS_W))[None, :]
    incident = (hours >= 14) & (hours < 15)
    is_500 = np.array([e.get("status") == "500" for e in extra]) & (job == JOBS.index("billing"))
    req_rate[np.ix_(incident, is_500)] *= 30

    counter_like = np.isin(kind, (REQ, COUNTER, FCOUNTER, BUCKET, HSUM, HCOUNT))
    inc = np.zeros((n_steps, n), np.float64)
    c = kind == REQ
    inc[:, c] = rng.poisson(req_rate[:, c] * dt)
    c = kind == COUNTER
    inc[:, c] = rng.poisson(mag[c] * diurnal[:, job[c]] * dt * rng.lognormal(0, 0.3, c.sum()))
    c = kind == FCOUNTER
    inc[:, c] = np.round(mag[c] * diurnal[:, job[c]] * dt * rng.lognormal(0, 0.3, (n_steps, c.sum())) / 0.01) * 0.01

    # Histogram: per (instance, method) request count, log-normal latency whose median grows with load.
    hist_cols = np.flatnonzero(np.isin(kind, (BUCKET, HSUM, HCOUNT)))
    groups = {}
    for col in hist_cols:
        groups.setdefault((int(inst[col]), extra[col]["method"]), []).append(col)
    keys = list(groups)
    g_inst = np.array([k[0] for k in keys])
    g_rate = load[:, [groups[k][0] for k in keys]] * np.array([_METHOD_W[k[1]] for k in keys])[None, :]
    count = rng.poisson(g_rate * dt).astype(np.float64)                                  # (steps, groups)
    median = np.array([_JOB_LATENCY[JOBS[i % len(JOBS)]] for i in g_inst])[None, :] * (0.6 + 0.4 * diurnal[:, g_inst % len(JOBS)])
    for gi, k in enumerate(keys):
        for col in groups[k]:
            name = FAMILIES[fam[col]][0]
            if name.endswith("_bucket"):
                le = float(extra[col]["le"])
                z = (np.log(le) - np.log(median[:, gi])) / _SIGMA if le != math.inf else np.inf
                cdf = 1.0 / (1.0 + np.exp(-1.702 * z))   # logistic approximation of the normal CDF
                inc[:, col] = np.round(count[:, gi] * cdf)
            elif name.endswith("_sum"):
                inc[:, col] = count[:, gi] * median[:, gi] * math.exp(_SIGMA ** 2 / 2)
            else:
                inc[:, col] = count[:, gi]
    inc[0] = 0.0
    total = np.cumsum(inc, axis=0)
    start = np.where(counter_like & (kind != BUCKET) & (kind != HSUM) & (kind != HCOUNT),
                     np.floor(rng.random(n) * 1e4), 0.0)
    total += start[None, :]
    # A few instances restart once: every counter of the instance drops and counts from zero.
    for i in rng.choice(n_inst, max(1, n_inst // 20), replace=False):
        r = int(rng.integers(n_steps // 10, n_steps - n_steps // 10))
        cols = np.flatnonzero((inst == i) & counter_like)
        total[r:, cols] -= total[r - 1, cols]
    total[:, kind == FCOUNTER] = np.round(total[:, kind == FCOUNTER], 2)
    out[:, counter_like] = total[:, counter_like]
    del inc, total

    g = kind == GAUGE
    walk = np.cumsum(rng.normal(0.0, 0.003, (n_steps, g.sum())), axis=0)
    level = mag[g] * (0.5 + rng.random(g.sum())) * np.maximum(0.05, 1 + walk)
    r = res[g]
    out[:, g] = np.where(r > 0, np.round(level / np.where(r > 0, r, 1)) * r, level)
    k = kind == CONST
    out[:, k] = np.round(mag[k] * np.where(mag[k] > 1, 0.9 + 0.2 * rng.random(k.sum()), 1.0))[None, :]
    return out


def build_query_feed(cfg: QueryConfig, end_ms: int) -> Feed:
    """The data set as precomputed remote-write bodies (the ingest bench's format: one
    sample per series per request, `series_per_request` series per request)."""
    t0 = time.monotonic()
    fcfg = FeedConfig(cfg.series, cfg.steps, cfg.step_ms, cfg.series_per_request, cfg.seed, end_ms)
    labels, fam, inst, extra = query_labels(cfg.series)
    timestamps = end_ms - cfg.step_ms * np.arange(cfg.steps - 1, -1, -1, dtype=np.int64)
    values = query_values(cfg.steps, cfg.step_ms, timestamps, fam, inst, extra, cfg.seed)
    print(f"  feed: values generated ({time.monotonic() - t0:.1f}s)", flush=True)
    feed = Feed(fcfg, labels, fam, timestamps, values)
    spr = cfg.series_per_request
    templates = [_template(labels[j * spr:(j + 1) * spr]) for j in range(fcfg.slices)]
    vbytes, tbytes = np.arange(8), np.arange(6)
    for step in range(cfg.steps):
        ts = _ts_varint(int(timestamps[step]))
        for j, (tmpl, offs) in enumerate(templates):
            buf = tmpl.copy()
            buf[(offs + 1)[:, None] + vbytes] = values[step, j * spr:(j + 1) * spr, None].view(np.uint8).reshape(-1, 8)
            buf[(offs + 10)[:, None] + tbytes] = ts
            feed.bodies.append(bytes(cramjam.snappy.compress_raw(buf)))
    print(f"  feed: {len(feed.bodies):,} requests, {fcfg.n_samples:,} samples, {feed.raw_bytes / 1e6:.0f} MB "
          f"compressed, built in {time.monotonic() - t0:.1f}s", flush=True)
    return feed


# --- the servers -----------------------------------------------------------------------------

def _configure_mytsdb(cfg: QueryConfig) -> Callable[[Target], None]:
    def configure(t: Target) -> None:
        conf = {"limits": {**targets.MYTSDB_LIMITS, "out_of_order_time_window": "100y"},
                "ingester": {"flush_interval": "2h", "flush_check_period": "1s",
                             "max_head_samples": cfg.series * (7_200_000 // cfg.step_ms)}}
        (t.workdir / "mytsdb.yaml").write_text(yaml.safe_dump(conf))
    return configure


def _configure_prometheus(t: Target) -> None:
    conf = {"global": {"scrape_interval": "15s"}, "storage": {"tsdb": {"out_of_order_time_window": "100y"}}}
    (t.workdir / "prometheus.yml").write_text(yaml.safe_dump(conf))


def _reset_peak(t: Target) -> None:
    Path(f"/proc/{t.proc.pid}/clear_refs").write_text("5")


def _mytsdb_placement(t: Target) -> dict:
    tenant = t.extra["data_dir"] / "bucket" / TENANT
    files = sorted(tenant.glob("data/**/*.parquet"))
    rows = [pq.read_metadata(p).num_rows for p in files]
    return {"files": len(files), "bucket_samples": sum(rows), "file_samples_min": min(rows, default=0),
            "file_samples_max": max(rows, default=0), "data_bytes": sum(p.stat().st_size for p in files),
            "head_samples": int(t.metric("mytsdb_ingester_head_samples"))}


def _prometheus_placement(t: Target) -> dict:
    blocks = [json.loads((d / "meta.json").read_text()) for d in t.extra["data_dir"].iterdir()
              if (d / "meta.json").exists()]
    hmin, hmax = t.metric("prometheus_tsdb_head_min_time"), t.metric("prometheus_tsdb_head_max_time")
    return {"blocks": len(blocks), "block_samples": sum(b["stats"]["numSamples"] for b in blocks),
            "block_hours": sorted(round((b["maxTime"] - b["minTime"]) / 3.6e6, 1) for b in blocks),
            "head_hours": round((hmax - hmin) / 3.6e6, 2) if hmax > hmin else 0.0}


def load(kind: str, t: Target, feed: Feed, concurrency: int) -> dict:
    n = feed.cfg.n_samples
    print(f"[query] loading {kind}: {n:,} samples, {len(feed.bodies):,} requests, {concurrency} clients",
          flush=True)
    pushed = push(t, feed, concurrency)
    if kind == "prometheus":  # samples behind its head's minimum go to the out-of-order head
        pushed["accepted_samples"] += int(t.metric("prometheus_tsdb_head_out_of_order_samples_appended_total"))
    if pushed["errors"] or pushed["accepted_samples"] != n:
        raise RuntimeError(f"{kind} did not accept the whole feed: {pushed}")
    out = {"seconds": pushed["seconds"], "samples_per_second": pushed["samples_per_second"],
           "server_cpu_seconds": pushed["server_cpu_seconds"]}
    if kind == "mytsdb":
        t0 = time.monotonic()
        httpx.post(t.url + "/ingester/flush?wait=true", timeout=900).raise_for_status()
        out["flush_seconds"] = round(time.monotonic() - t0, 2)
        out["placement"] = _mytsdb_placement(t)
        if out["placement"]["bucket_samples"] + out["placement"]["head_samples"] != n:
            raise RuntimeError(f"MyTSDB holds {out['placement']} for {n:,} samples")
    else:
        wait_for_quiet(max_wait_s=60)  # let its head compaction finish
        out["placement"] = _prometheus_placement(t)
    out["load_peak_rss_mb"] = round(t.memory().hwm / MB, 1)
    print(f"  {kind}: loaded in {out['seconds']:.0f}s" +
          (f" + flush {out['flush_seconds']:.0f}s" if "flush_seconds" in out else "") +
          f"; {out['placement']}", flush=True)
    return out


# --- queries ---------------------------------------------------------------------------------

def _proc(t: Target) -> np.ndarray:
    """(user CPU s, system CPU s, minor page faults) of the server process so far."""
    f = Path(f"/proc/{t.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return np.array([int(f[11]) / tck, int(f[12]) / tck, int(f[7])], np.float64)


def settle(t: Target, max_wait_s: float = 10.0) -> float:
    """Wait until the server's own CPU time stops growing (Go's GC and scavenger run on after
    Prometheus answers; they would slow the other system's next query on this 2-core machine).
    Returns the CPU-seconds it used meanwhile."""
    c0 = prev = t.cpu_seconds()
    deadline = time.monotonic() + max_wait_s
    while time.monotonic() < deadline:
        time.sleep(0.1)
        cur = t.cpu_seconds()
        if cur - prev < 0.015:
            break
        prev = cur
    return t.cpu_seconds() - c0


def _get(client: httpx.Client, t: Target, query: str, start_s: int, end_s: int, step_s: int) -> tuple[float, dict]:
    params = {"query": query, "start": str(start_s), "end": str(end_s), "step": str(step_s)}
    headers = {"X-Scope-OrgID": TENANT} if t.name == "mytsdb" else {}
    t0 = time.perf_counter()
    r = client.get(t.url + "/api/v1/query_range", params=params, headers=headers)
    body = r.content
    elapsed = time.perf_counter() - t0
    doc = json.loads(body)
    if r.status_code != 200 or doc.get("status") != "success":
        raise RuntimeError(f"{t.name}: HTTP {r.status_code} for {query}: {body[:300]!r}")
    return elapsed, doc["data"]


def _points(data: dict) -> dict[frozenset, dict[float, float]]:
    return {frozenset(s["metric"].items()): {float(ts): float(v) for ts, v in s["values"]} for s in data["result"]}


def compare(a: dict, b: dict, settled_s: float) -> dict:
    """Series and point agreement of two `query_range` answers. Points before `settled_s`
    (windows that reach back past the first sample) are counted apart (`edge_points_differing`,
    including points and series only one answer has there, e.g. a different top 10): there
    Prometheus 2 and 3 extrapolate `rate` differently (v3 applies the counter's zero-point
    limit after the threshold test), so MyTSDB (v3) and Prometheus 2.42 rightly differ."""
    pa_, pb = _points(a), _points(b)
    common = pa_.keys() & pb.keys()
    points = differ = missing = edge = 0
    max_rel = 0.0
    examples = []
    lone = [(k, (pa_.get(k) or pb.get(k))) for k in pa_.keys() ^ pb.keys()]
    lone_late = [k for k, pts in lone if max(pts, default=0) >= settled_s]
    examples += [f"only in {'MyTSDB' if k in pa_ else 'Prometheus'}: {dict(k)}" for k in lone_late[:2]]
    edge += sum(len(pts) for _, pts in lone)
    for key in common:
        sa, sb = pa_[key], pb[key]
        only = sa.keys() ^ sb.keys()
        late = sorted(ts for ts in only if ts >= settled_s)
        missing += len(late)
        edge += len(only) - len(late)
        examples += [f"{dict(key)} @{ts}: {sa.get(ts)} vs {sb.get(ts)}" for ts in late[:2]]
        for ts in sa.keys() & sb.keys():
            x, y = sa[ts], sb[ts]
            points += 1
            if math.isnan(x) and math.isnan(y) or x == y:
                continue
            rel = abs(x - y) / max(abs(x), abs(y), 1e-300)
            rel = rel if not math.isnan(rel) else math.inf
            if rel <= 1e-9:
                max_rel = max(max_rel, rel)
            elif ts < settled_s:
                edge += 1
            else:
                max_rel = max(max_rel, rel)
                differ += 1
                if len(examples) < 6:
                    examples.append(f"{dict(key)} @{ts}: {x} vs {y}")
    return {"examples": examples[:6], "series": [len(pa_), len(pb)], "series_only_in_one": len(lone_late),
            "points_compared": points, "points_only_in_one": missing, "points_differing": differ,
            "edge_points_differing": edge,
            "max_rel_diff": max_rel}


def time_queries(cfg: QueryConfig, m: Target, p: Target, start_s: int, end_s: int, settled_s: float) -> list[dict]:
    out = []
    with httpx.Client(timeout=900) as client:
        for name, query in QUERIES:
            busy = wait_for_quiet()
            both = (m, p)
            for t in both:
                _reset_peak(t)
            busy0, servers0, own0 = machine_busy_seconds(), m.cpu_seconds() + p.cpu_seconds(), _own_cpu()
            wall0 = time.monotonic()
            times: dict[str, list[float]] = {"mytsdb": [], "prometheus": []}
            cpu: dict[str, list[np.ndarray]] = {"mytsdb": [], "prometheus": []}
            answers = {}
            for r in range(cfg.warmup + cfg.runs):
                for t in both if r % 2 == 0 else both[::-1]:
                    c0 = _proc(t)
                    sec, data = _get(client, t, query, start_s, end_s, cfg.query_step_s)
                    settle(t)
                    if r >= cfg.warmup:
                        times[t.name].append(sec)
                        cpu[t.name].append(_proc(t) - c0)
                    answers[t.name] = data
            other = (machine_busy_seconds() - busy0 - (m.cpu_seconds() + p.cpu_seconds() - servers0)
                     - (_own_cpu() - own0)) / (time.monotonic() - wall0)
            row = {"name": name, "query": query, "other_cpu_cores_before": round(busy, 2),
                   "other_cpu_cores": round(max(other, 0.0), 2)}
            for t in both:
                row[t.name] = {"median_s": round(statistics.median(times[t.name]), 4),
                               "runs_s": [round(x, 4) for x in times[t.name]],
                               "min_s": round(min(times[t.name]), 4),
                               "cpu_s": round(statistics.median(float(x[0] + x[1]) for x in cpu[t.name]), 3),
                               "user_cpu_s": round(statistics.median(float(x[0]) for x in cpu[t.name]), 3),
                               "sys_cpu_s_runs": [round(float(x[1]), 2) for x in cpu[t.name]],
                               "minor_faults": int(statistics.median(float(x[2]) for x in cpu[t.name])),
                               "peak_rss_mb": round(t.memory().hwm / MB, 1),
                               "series": len(answers[t.name]["result"])}
            row["ratio"] = round(row["mytsdb"]["median_s"] / row["prometheus"]["median_s"], 3)
            row["check"] = compare(answers["mytsdb"], answers["prometheus"], settled_s)
            row["series_match"] = row["mytsdb"]["series"] == row["prometheus"]["series"]
            c = row["check"]
            print(f"  {name:<19} MyTSDB {row['mytsdb']['median_s'] * 1e3:8.0f} ms {row['mytsdb']['cpu_s']:5.2f} CPU-s "
                  f"(user {row['mytsdb']['user_cpu_s']:.2f}, {row['mytsdb']['minor_faults'] / 1e3:.0f}k faults) "
                  f"({row['mytsdb']['peak_rss_mb']:6.0f} MB)  Prometheus {row['prometheus']['median_s'] * 1e3:7.0f} ms "
                  f"{row['prometheus']['cpu_s']:5.2f} CPU-s "
                  f"({row['prometheus']['peak_rss_mb']:5.0f} MB)  ratio {row['ratio']:5.2f}  series "
                  f"{c['series'][0]}/{c['series'][1]}, {c['points_differing']} of {c['points_compared']:,} points "
                  f"differ (max rel {c['max_rel_diff']:.1e}), {c['points_only_in_one']} points and "
                  f"{c['series_only_in_one']} series in one only, "
                  f"{c['edge_points_differing']} at the data's start; other processes {row['other_cpu_cores']:.2f} cores",
                  flush=True)
            out.append(row)
    return out


# --- profile ---------------------------------------------------------------------------------

def profile(m: Target, names: list[str], start_s: int, end_s: int, step_s: int, top: int = 15) -> list[dict]:
    """cProfile of `Engine.range` over `StorageSource` in this process, on the server's data
    dir (everything is in the bucket after the flush, so no head is needed)."""
    import tsdb.query.source as source_mod
    from promql.engine import Engine
    from tsdb.config import load_config
    from tsdb.services import Services
    from tsdb.tenancy import Tenant

    cfg = load_config(m.workdir / "mytsdb.yaml", {"data_dir": str(m.extra["data_dir"])})
    services = Services.build(cfg)
    tenant, engine = Tenant(TENANT), Engine()
    queries = dict(QUERIES)
    out = []
    for name in names:
        q = queries[name]
        args = (q, start_s * 1000, end_s * 1000, step_s * 1000)
        src = lambda: source_mod.StorageSource(services, tenant, layouts=services.layouts)  # noqa: E731
        engine.range(src(), *args)  # warm the footer cache, as the server's is
        t0 = time.perf_counter()
        engine.range(src(), *args)
        threaded = time.perf_counter() - t0
        saved = source_mod.LOCAL_READ_THREADS
        source_mod.LOCAL_READ_THREADS = 1  # cProfile sees one thread only
        try:
            t0 = time.perf_counter()
            engine.range(src(), *args)
            serial = time.perf_counter() - t0
            prof = cProfile.Profile()
            prof.enable()
            engine.range(src(), *args)
            prof.disable()
        finally:
            source_mod.LOCAL_READ_THREADS = saved
        stats = pstats.Stats(prof)
        rows = []
        for (file, line, func), (_, ncalls, tottime, cumtime, _) in stats.stats.items():
            where = f"{_short(file)}:{line}:{func}" if line else func
            rows.append({"function": where, "calls": ncalls, "tottime_s": round(tottime, 3), "cumtime_s": round(cumtime, 3)})
        total = sum(r["tottime_s"] for r in rows)
        by_tot = sorted(rows, key=lambda r: -r["tottime_s"])[:top]
        ours = [r for r in rows if r["function"].startswith(("promql/", "tsdb/"))]
        by_cum = sorted(ours, key=lambda r: -r["cumtime_s"])[:top]
        text = io.StringIO()
        text.write(f"[profile] {name}: {q}\n  engine in-process {threaded:.2f}s (scan threads on), "
                   f"{serial:.2f}s (one thread), profiled {total:.2f}s\n  top by own time:\n")
        for r in by_tot:
            text.write(f"    {r['tottime_s']:7.3f}s  {r['cumtime_s']:7.3f}s cum  {r['calls']:>8} calls  {r['function']}\n")
        text.write("  our functions by cumulative time:\n")
        for r in by_cum:
            text.write(f"    {r['cumtime_s']:7.3f}s cum  {r['tottime_s']:7.3f}s own  {r['function']}\n")
        print(text.getvalue(), end="", flush=True)
        out.append({"name": name, "query": q, "engine_seconds": round(threaded, 3),
                    "engine_seconds_one_thread": round(serial, 3), "profiled_seconds": round(total, 3),
                    "top_own": by_tot, "top_cumulative_ours": by_cum, "text": text.getvalue()})
    return out


def _short(file: str) -> str:
    for root in (str(Path(__file__).resolve().parent.parent) + "/", "site-packages/", "lib/python3.11/"):
        if root in file:
            return file.split(root, 1)[1]
    return file


# --- the benchmark ---------------------------------------------------------------------------

def run(cfg: QueryConfig, out_dir: Path | None = None) -> dict:
    now = int(time.time() * 1000)
    end_ms = (now - OFF_GRID_MS) // cfg.step_ms * cfg.step_ms + OFF_GRID_MS  # last sample, <= now
    end_s = (end_ms // 1000 - 30) // 60 * 60 + 30      # query steps at :30, subquery steps at :00
    start_s = end_s - cfg.hours * 3600
    print(f"[query] {cfg.series:,} series x {cfg.steps} steps ({cfg.hours} h at {cfg.step_ms // 1000} s), "
          f"{len(QUERIES)} queries at step {cfg.query_step_s} s", flush=True)
    feed = build_query_feed(cfg, end_ms)
    check_body(feed, 0)
    check_body(feed, len(feed.bodies) - 1)
    result: dict = {"config": {**asdict(cfg), "samples": feed.cfg.n_samples, "steps": cfg.steps,
                               "query_start": start_s, "query_end": end_s,
                               "query_points": (end_s - start_s) // cfg.query_step_s + 1}}
    with contextlib.ExitStack() as stack:
        m = stack.enter_context(targets.running("mytsdb", _configure_mytsdb(cfg)))
        result["mytsdb_load"] = load("mytsdb", m, feed, cfg.concurrency)
        p = stack.enter_context(targets.running("prometheus", _configure_prometheus))
        result["prometheus_load"] = load("prometheus", p, feed, cfg.concurrency)
        del feed
        for t in (m, p):
            result[f"{t.name}_rss_before_queries_mb"] = round(t.memory().rss / MB, 1)
        print(f"[query] timing: {cfg.warmup} warm-up + {cfg.runs} runs per query and system", flush=True)
        settled_s = (end_ms - (cfg.steps - 1) * cfg.step_ms) / 1000 + 3_900  # first sample + 1 h 5 m
        result["queries"] = time_queries(cfg, m, p, start_s, end_s, settled_s)
        slowest = sorted(result["queries"], key=lambda r: -r["mytsdb"]["median_s"])[:cfg.profile]
        if slowest:
            p.kill()  # free its memory and CPU for the profile
            result["profile"] = profile(m, [r["name"] for r in slowest], start_s, end_s, cfg.query_step_s)
    if out_dir is not None and result.get("profile"):
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "query-profile.txt").write_text("".join(x["text"] for x in result["profile"]))
    return result
