"""Ingest: samples/s of live-shaped remote write, MyTSDB against Prometheus.

Both targets get the same precomputed bodies, the same number of client processes and
persistent connections, one after the other, each time on a fresh server. The clock runs
from the first request to the last answer; series creation (the first requests) is
included for both. Rounds alternate which target goes first and the median counts, so
one noisy run (a GC, the page cache) does not decide the ratio. The count of accepted
samples is read back from each server's own metrics so a fast-but-rejecting server
cannot win.

Beside samples/s, each run records the server's own CPU time (samples per CPU-second,
which other work on the machine barely moves) and the CPU that processes outside the
bench used meanwhile, so a disturbed run is visible in the report.
"""
from __future__ import annotations

import os
import statistics
from dataclasses import asdict, dataclass

from bench.client import LoadConfig, send_all
from bench.feed import Feed
from bench.targets import HOST, Target, machine_busy_seconds, running, wait_for_quiet

ACCEPTED_METRIC = {"mytsdb": "mytsdb_ingester_ingested_samples_total",
                   "prometheus": "prometheus_tsdb_head_samples_appended_total"}


@dataclass(frozen=True)
class IngestConfig:
    concurrency: int = 4
    rounds: int = 5


def push(target: Target, feed: Feed, concurrency: int, part: slice = slice(None)) -> dict:
    """Send the feed (or the requests `part` of it, which must start at a timestamp
    boundary) to `target`; returns throughput and acceptance figures (the accepted count
    is the server's running total)."""
    load = LoadConfig(concurrency, feed.cfg.series_per_request, feed.cfg.slices)
    busy0, cpu0, own0 = machine_busy_seconds(), target.cpu_seconds(), _own_cpu()
    res = send_all(HOST, target.port, target.push_path, feed.bodies[part], load, label=target.name)
    cpu = target.cpu_seconds() - cpu0
    other = machine_busy_seconds() - busy0 - cpu - res.client_cpu_seconds - (_own_cpu() - own0)
    accepted = target.metric(ACCEPTED_METRIC[target.name])
    out = {"samples": res.samples, "seconds": round(res.seconds, 3),
           "samples_per_second": round(res.samples_per_second), "server_cpu_seconds": round(cpu, 2),
           "samples_per_cpu_second": round(res.samples / cpu) if cpu > 0 else None,
           "client_cpu_seconds": round(res.client_cpu_seconds, 2),
           "other_cpu_cores": round(max(other, 0.0) / res.seconds, 2), "requests": res.requests,
           "errors": res.errors, "statuses": {str(k): v for k, v in res.statuses.items()},
           "accepted_samples": int(accepted)}
    if res.first_error:
        out["first_error"] = res.first_error
    print(f"  {target.name}: {res.samples_per_second:,.0f} samples/s over {res.seconds:.1f}s "
          f"(server {cpu:.1f} CPU-s, clients {res.client_cpu_seconds:.1f}, other processes "
          f"{max(other, 0.0) / res.seconds:.2f} cores), {int(accepted):,} samples accepted, "
          f"{res.errors} failed requests", flush=True)
    return out


def run(feed: Feed, cfg: IngestConfig) -> dict:
    runs: dict[str, list[dict]] = {"mytsdb": [], "prometheus": []}
    for r in range(cfg.rounds):
        for kind in ("mytsdb", "prometheus")[:: 1 if r % 2 == 0 else -1]:
            print(f"[ingest] round {r + 1}/{cfg.rounds}, {kind}: {feed.cfg.n_samples:,} samples, "
                  f"{len(feed.bodies)} requests, {cfg.concurrency} connections", flush=True)
            wait_for_quiet()
            with running(kind) as target:
                res = push(target, feed, cfg.concurrency)
            if res["errors"] or res["accepted_samples"] != feed.cfg.n_samples:
                raise RuntimeError(f"{kind} did not accept the whole feed: {res}")
            runs[kind].append(res)
    out: dict = {"config": {**asdict(cfg), "samples": feed.cfg.n_samples, "requests": len(feed.bodies),
                            "samples_per_request": feed.cfg.series_per_request}}
    for kind, results in runs.items():
        rates = [x["samples_per_second"] for x in results]
        per_cpu = [x["samples_per_cpu_second"] or 0 for x in results]
        cores = [x["server_cpu_seconds"] / x["seconds"] for x in results]
        out[kind] = {"samples_per_second": round(statistics.median(rates)), "rounds": rates,
                     "samples_per_cpu_second": round(statistics.median(per_cpu)),
                     "server_cores": round(statistics.median(cores), 2), "runs": results}
    m, p = out["mytsdb"], out["prometheus"]
    out["ratio"] = round(m["samples_per_second"] / max(p["samples_per_second"], 1), 3)
    out["cpu_ratio"] = round(m["samples_per_cpu_second"] / max(p["samples_per_cpu_second"], 1), 3)
    out["max_other_cpu_cores"] = max(x["other_cpu_cores"] for rs in runs.values() for x in rs)
    return out


def _own_cpu() -> float:
    """CPU time of this (parent) process; its children are counted by the client."""
    t = os.times()
    return t.user + t.system
