"""Ingest: samples/s of live-shaped remote write, MyTSDB against Prometheus.

Both targets get the same precomputed bodies, the same number of client processes and
persistent connections, one after the other on a fresh server. The clock runs from the
first request to the last answer; series creation (the first 5 requests) is included for
both. The count of accepted samples is read back from each server's own metrics so a
fast-but-rejecting server cannot win.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from bench.client import LoadConfig, send_all
from bench.feed import Feed
from bench.targets import HOST, Target, running

ACCEPTED_METRIC = {"mytsdb": "mytsdb_ingester_ingested_samples_total",
                   "prometheus": "prometheus_tsdb_head_samples_appended_total"}


@dataclass(frozen=True)
class IngestConfig:
    concurrency: int = 4


def push(target: Target, feed: Feed, concurrency: int) -> dict:
    """Send the whole feed to `target`; returns throughput and acceptance figures."""
    load = LoadConfig(concurrency, feed.cfg.series_per_request, feed.cfg.slices)
    res = send_all(HOST, target.port, target.push_path, feed.bodies, load, label=target.name)
    accepted = target.metric(ACCEPTED_METRIC[target.name])
    out = {"samples": res.samples, "seconds": round(res.seconds, 3),
           "samples_per_second": round(res.samples_per_second), "requests": res.requests,
           "errors": res.errors, "statuses": {str(k): v for k, v in res.statuses.items()},
           "accepted_samples": int(accepted)}
    if res.first_error:
        out["first_error"] = res.first_error
    print(f"  {target.name}: {res.samples_per_second:,.0f} samples/s over {res.seconds:.1f}s, "
          f"{int(accepted):,} samples accepted, {res.errors} failed requests", flush=True)
    return out


def run(feed: Feed, cfg: IngestConfig) -> dict:
    results = {}
    for kind in ("mytsdb", "prometheus"):
        print(f"[ingest] {kind}: {feed.cfg.n_samples:,} samples, {len(feed.bodies)} requests, "
              f"{cfg.concurrency} connections", flush=True)
        with running(kind) as target:
            results[kind] = push(target, feed, cfg.concurrency)
            target.stop()
    ratio = results["mytsdb"]["samples_per_second"] / max(results["prometheus"]["samples_per_second"], 1)
    return {"config": asdict(cfg), **results, "ratio": round(ratio, 3)}
