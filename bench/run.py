"""Entry point: `python -m bench.run [--quick] [--only ingest|size|memory|query|cluster|compaction]`.

Runs the benchmarks against a real Prometheus on the same machine and data, prints the
summary, and writes `bench/results/latest.json` and `latest.md` (the README table).
The PromQL query benchmark (`--only query`, about 15 minutes; `--quick` 6 h of 2,000 series
instead of 24 h of 10,000) is not part of the default run, nor is the cluster benchmark
(`--only cluster`, about 3 minutes, `--quick` about 2: `mytsdb local-cluster` against `all`
mode, 1M samples, `--quick` 250k; see bench/cluster.py), nor the compaction benchmark
(`--only compaction`, about 5 minutes, `--quick` about 2: bytes/sample of a compacted day
against Prometheus' 18 h block, compactor throughput and peak RSS, queries on L0 against
compacted data; see bench/compaction.py), nor the analytics benchmark (`--only analytics`: Flight SQL
against DuckDB on the same files, pandas export against `pq.read_table`; see bench/analytics.py), nor the
Flight SQL benchmark (`--only flightsql`: separate and overlapping files against DuckDB; see bench/flightsql.py),
nor the pandas export benchmark (`--only export`: `Client.export(...).to_pandas()` over HTTP and Flight against
`pq.read_table(files).to_pandas()`; see bench/export.py).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from bench import (analytics, cluster, cluster_profile, cluster_query, compaction, compaction_query, export, flightsql,
                   ingest, memory, query, report, size)
from bench.feed import FeedConfig, build_feed, check_body
from bench.targets import ensure_prometheus

SECTIONS = ("ingest", "size", "memory")  # the default run
CHOICES = SECTIONS + ("query", "cluster", "compaction", "analytics", "flightsql", "export")
SIZE_STEPS = 480  # 2 h at 15 s: one Prometheus block's worth


@dataclass(frozen=True)
class BenchConfig:
    samples: int = 4_000_000
    cluster_samples: int = 1_000_000
    concurrency: int = 4
    rounds: int = 5
    series: int = 10_000
    series_per_request: int = 2_000
    sections: tuple[str, ...] = SECTIONS
    quick: bool = False
    out: Path = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> BenchConfig:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1M samples for ingest and memory (size stays 2 h); query: 6 h of 2,000 series")
    p.add_argument("--only", action="append", choices=CHOICES, help="run only this benchmark (repeatable)")
    p.add_argument("--samples", type=int,
                   help="samples per ingest/memory/cluster run (default 4M, --quick 1M; cluster: 1M, --quick 250k)")
    p.add_argument("--concurrency", type=int, default=BenchConfig.concurrency,
                   help="client connections, the same for both targets")
    p.add_argument("--rounds", type=int, default=BenchConfig.rounds, help="ingest rounds per target (median reported)")
    p.add_argument("--out", type=Path, default=BenchConfig.out)
    a = p.parse_args(argv)
    samples = a.samples or (1_000_000 if a.quick else 4_000_000)
    return BenchConfig(samples=samples, cluster_samples=a.samples or (250_000 if a.quick else 1_000_000),
                       concurrency=a.concurrency, rounds=a.rounds,
                       sections=tuple(a.only) if a.only else SECTIONS, quick=a.quick, out=a.out)


def run_cluster(cfg: BenchConfig, live) -> dict:
    """Cluster ingest, queries and the write-path profile."""
    steps = max(cfg.cluster_samples // cfg.series, 1)
    if live is not None and live.cfg.n_steps == steps:
        feed = live
    else:
        print(f"[feed] cluster: {cfg.series:,} series x {steps} steps", flush=True)
        feed = build_feed(FeedConfig(cfg.series, steps, series_per_request=cfg.series_per_request))
        check_body(feed, len(feed.bodies) - 1)
    qcfg = query.QueryConfig(series=2_000, hours=2 if cfg.quick else 6, runs=3, concurrency=cfg.concurrency)
    ccfg = cluster.ClusterBenchConfig(cfg.concurrency, min(cfg.rounds, 3), qcfg)
    return _run_parts("cluster", (("ingest", lambda: cluster.ingest(feed, ccfg)),
                                  ("queries", lambda: cluster_query.queries(ccfg)),
                                  ("profile", lambda: cluster_profile.run(feed))))


def run_compaction(cfg: BenchConfig) -> dict:
    """Compacted bytes/sample against Prometheus with the compactor's throughput and memory,
    then queries on L0 against compacted data."""
    parts = (("size", lambda: compaction.run((compaction.CompactionConfig.quick if cfg.quick
                                               else compaction.CompactionConfig)(concurrency=cfg.concurrency))),
             ("queries", lambda: compaction_query.run((compaction_query.CompactedQueryConfig.quick if cfg.quick
                                                       else compaction_query.CompactedQueryConfig)(
                                                           concurrency=cfg.concurrency))))
    return _run_parts("compaction", parts)


def _run_parts(section: str, parts) -> dict:
    """Run a section's (name, callable) parts; one failing part does not stop the others."""
    out: dict = {}
    for name, part in parts:
        try:
            out[name] = part()
        except Exception as e:
            traceback.print_exc()
            out.setdefault("errors", {})[name] = f"{type(e).__name__}: {e}"[:300]
    if "errors" in out:
        raise RuntimeError(f"{section}: {out['errors']}") if len(out) == 1 else _Partial(out, section)
    return out


class _Partial(Exception):
    """Some parts of a section failed: the others' results still go into the report."""

    def __init__(self, results: dict, section: str = "cluster") -> None:
        super().__init__(f"{section}: {results['errors']}")
        self.results = results


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    t0 = time.monotonic()
    sized = f"{cfg.samples:,} samples, " if {"ingest", "memory"} & set(cfg.sections) else (
        f"{cfg.cluster_samples:,} samples, " if "cluster" in cfg.sections else "")
    print(f"MyTSDB bench: {', '.join(cfg.sections)}; {sized}{cfg.concurrency} connections", flush=True)
    results: dict = {"machine": report.machine(ensure_prometheus())}
    print(f"  {results['machine']['prometheus']}; {results['machine']['nproc']} CPUs, {results['machine']['cpu']}",
          flush=True)
    steps = max(cfg.samples // cfg.series, 1)
    live = None
    if {"ingest", "memory"} & set(cfg.sections):
        print(f"[feed] {cfg.series:,} series x {steps} steps", flush=True)
        live = build_feed(FeedConfig(cfg.series, steps, series_per_request=cfg.series_per_request))
        check_body(live, 0)
        check_body(live, len(live.bodies) - 1)
    errors: dict[str, str] = {}
    for section in cfg.sections:
        try:
            if section == "ingest":
                results["ingest"] = ingest.run(live, ingest.IngestConfig(cfg.concurrency, cfg.rounds))
            elif section == "memory":
                results["memory"] = memory.run(live, memory.MemoryConfig(cfg.concurrency))
            elif section == "size":
                print(f"[feed] {cfg.series:,} series x {SIZE_STEPS} steps (2 h)", flush=True)
                feed = build_feed(FeedConfig(cfg.series, SIZE_STEPS, series_per_request=cfg.series_per_request))
                check_body(feed, 0)
                results["size"] = size.run(feed, size.SizeConfig(cfg.concurrency))
                del feed
            elif section == "cluster":
                results["cluster"] = run_cluster(cfg, live)
            elif section == "compaction":
                results["compaction"] = run_compaction(cfg)
            elif section == "analytics":
                acfg = analytics.AnalyticsConfig.quick if cfg.quick else analytics.AnalyticsConfig
                results["analytics"] = analytics.run(acfg(concurrency=cfg.concurrency))
            elif section == "flightsql":
                fcfg = flightsql.FlightSqlBenchConfig.quick if cfg.quick else flightsql.FlightSqlBenchConfig
                results["flightsql"] = flightsql.run(fcfg(concurrency=cfg.concurrency))
            elif section == "export":
                ecfg = export.ExportBenchConfig.quick if cfg.quick else export.ExportBenchConfig
                results["export"] = export.run(ecfg(concurrency=cfg.concurrency))
            elif section == "query":
                qcfg = query.QueryConfig.quick if cfg.quick else query.QueryConfig
                results["query"] = query.run(qcfg(concurrency=cfg.concurrency), cfg.out)
        except _Partial as e:
            results[section] = e.results
            errors[section] = str(e)[:300]
        except Exception as e:  # report the others anyway
            traceback.print_exc()
            errors[section] = f"{type(e).__name__}: {e}"[:300]
    if errors:
        results["errors"] = errors
    results["seconds"] = round(time.monotonic() - t0, 1)
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    md = report.markdown(results)
    (cfg.out / "latest.md").write_text(md)
    print("\n" + md)
    print(f"wrote {cfg.out / 'latest.json'} and {cfg.out / 'latest.md'} ({results['seconds']:.0f}s)", flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
