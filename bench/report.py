"""The machine description and the markdown table that goes into the README."""
from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import tempfile
from pathlib import Path

from bench import compaction_report

ROOT = Path(__file__).resolve().parent.parent


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _fs_type(path: str) -> str:
    """Filesystem type of `path` (tmpfs makes fsync free, which would flatter MyTSDB's WAL)."""
    best, kind = "", "unknown"
    for line in Path("/proc/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) > 2 and path.startswith(parts[1]) and len(parts[1]) > len(best):
            best, kind = parts[1], parts[2]
    return kind


def machine(prometheus_version: str) -> dict:
    tmp = os.environ.get("MYTSDB_BENCH_TMP") or tempfile.gettempdir()
    mem_kb = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "memory_gb": round(mem_kb / 1e6, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "prometheus": prometheus_version,
        "mytsdb_commit": commit + ("-dirty" if dirty else ""),
        "tmp_dir": tmp,
        "tmp_fs": _fs_type(tmp),
    }


def _version(line: str) -> str:
    """`prometheus, version 2.42.0+ds (branch: ...)` -> `2.42.0+ds`."""
    words = line.replace(",", "").split()
    return words[words.index("version") + 1] if "version" in words[:-1] else line


def _spread(x: dict) -> str:
    return f"{x['samples_per_second']:,} ({min(x['rounds']) / 1e3:.0f}k–{max(x['rounds']) / 1e3:.0f}k)"


def _goal(ok: bool) -> str:
    return "met" if ok else "**not met**"


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Measured {m['date']} on {m['nproc']} CPUs ({m['cpu']}), Prometheus {_version(m['prometheus'])}, "
        f"MyTSDB {m['mytsdb_commit']}, "
        f"Python {m['python']}; data dirs on {m['tmp_fs']}. `make bench` (`python -m bench.run`).",
        "",
        "| benchmark | MyTSDB | Prometheus | MyTSDB / Prometheus | goal |",
        "|---|---:|---:|---:|---|",
    ]
    notes = []
    if "ingest" in results:
        r = results["ingest"]
        c = r["config"]
        lines.append(
            f"| ingest, samples/s (remote write, {c['samples_per_request']:,} series × 1 sample per request, "
            f"{c['concurrency']} connections, {c['samples'] / 1e6:g}M samples, median of {c['rounds']}; min–max) "
            f"| {_spread(r['mytsdb'])} | {_spread(r['prometheus'])} "
            f"| {r['ratio']:.2f} | ≥ 1.0: {_goal(r['ratio'] >= 1.0)} |")
        lines.append(
            f"| ingest efficiency, samples per server CPU-second (same runs, median) "
            f"| {r['mytsdb']['samples_per_cpu_second']:,} | {r['prometheus']['samples_per_cpu_second']:,} "
            f"| {r['cpu_ratio']:.2f} | — |")
        notes.append("Ingest: every request is precomputed; the clients are separate processes with persistent "
                     "connections; MyTSDB acknowledges a push after its WAL fsync (`wal_fsync: always`). "
                     f"CPU-seconds are the server process's user + system time; the servers kept "
                     f"{r['mytsdb']['server_cores']:.1f} (MyTSDB) and {r['prometheus']['server_cores']:.1f} "
                     f"(Prometheus) cores busy.")
        if r.get("max_other_cpu_cores", 0) > 0.25:
            notes.append(f"**Other processes shared the CPUs** during ingest runs (up to "
                         f"{r['max_other_cpu_cores']:.2f} cores busy outside the bench): samples/s is noisy; "
                         "samples per CPU-second much less so.")
    if "size" in results:
        r = results["size"]
        c = r["config"]
        lines.append(
            f"| disk, bytes/sample (2 h at {c['step_ms'] // 1000} s, {c['series']:,} series, "
            f"{c['samples'] / 1e6:g}M samples; with series sidecars) "
            f"| {r['mytsdb']['bytes_per_sample']:.3f} ({r['mytsdb']['bytes_per_sample_with_sidecars']:.3f}) "
            f"| {r['prometheus']['bytes_per_sample']:.3f} | {r['ratio']:.2f} ({r['ratio_with_sidecars']:.2f}) "
            f"| ≤ 0.8: {_goal(r['ratio'] <= 0.8)} |")
        notes.append("Disk: MyTSDB's L0 Parquet data files after `POST /ingester/flush?wait=true` (sidecars: "
                     "`series/` files); Prometheus' head written as a block by the snapshot API, chunks + index. "
                     "Node-exporter-like data: 50 metric names, 100 instances, counters, gauges, constants.")
    if "memory" in results:
        r = results["memory"]
        c = r["config"]
        def mem(x: dict, marginal: bool) -> str:
            extra = f"marginal {x['marginal_mb_per_million']:.1f}, " if marginal else ""
            return f"{x['mb_per_million']:.1f} ({extra}peak {x['peak_mb_per_million']:.1f})"
        lines.append(
            f"| head memory, MB RSS per million samples ({c['samples'] / 1e6:g}M samples, no flush) "
            f"| {mem(r['mytsdb'], True)} | {mem(r['prometheus'], False)} | {r['ratio']:.2f} | — |")
        notes.append("Memory: (VmRSS after − VmRSS before) / samples pushed into a fresh server; marginal: the "
                     "second half of the push only (every series exists; not shown for Prometheus, whose RSS "
                     "follows Go's GC); peak: VmHWM instead of VmRSS.")
    if "query" in results:
        r = results["query"]
        c = r["config"]
        span = f"{c['hours']} h, step {c['query_step_s']} s"
        ml, pl = r["mytsdb_load"], r["prometheus_load"]
        lines.append(
            f"| query data load, s (remote write, {c['samples'] / 1e6:g}M samples: {c['series']:,} series × "
            f"{c['hours']} h at {c['step_ms'] // 1000} s, {c['concurrency']} clients; MyTSDB + final flush) "
            f"| {ml['seconds']:.0f} + {ml['flush_seconds']:.0f} | {pl['seconds']:.0f} "
            f"| {(ml['seconds'] + ml['flush_seconds']) / pl['seconds']:.2f} | — |")
        for q in r["queries"]:
            m, p = q["mytsdb"], q["prometheus"]
            lines.append(
                f"| query `{q['query'].replace('|', '&#124;')}` ({span}; {m['series']}"
                + ("" if q["series_match"] else f" vs {p['series']}") + " series), median s "
                f"(peak RSS MB) | {m['median_s']:.3f} ({m['peak_rss_mb']:,.0f}) "
                f"| {p['median_s']:.3f} ({p['peak_rss_mb']:,.0f}) | {q['ratio']:.2f} "
                f"| ≤ 0.5: {_goal(q['ratio'] <= 0.5)} |")
        mp, pp = ml["placement"], pl["placement"]
        bad = [f"{q['name']} ({q['check']['points_differing']} points differ, {q['check']['points_only_in_one']} "
               f"points and {q['check']['series_only_in_one']} series in one answer only)" for q in r["queries"]
               if q["check"]["series_only_in_one"] or q["check"]["points_differing"] or q["check"]["points_only_in_one"]]
        notes.append(
            f"Query: `GET /api/v1/query_range` timed on the client, {c['warmup']} warm-up + {c['runs']} runs "
            f"per system, interleaved, median; peak RSS is the server's VmHWM, reset before each query. "
            f"MyTSDB read {mp['bucket_samples'] / 1e6:.1f}M samples from {mp['files']} Parquet files in the "
            f"bucket ({mp['head_samples']:,} in the head); Prometheus {pp['blocks']} blocks "
            f"({pp['block_samples'] / 1e6:.1f}M samples) + a {pp['head_hours']:.1f} h head. "
            f"Other processes kept up to {max(q['other_cpu_cores'] for q in r['queries']):.2f} cores busy "
            f"during the query runs. "
            + ("Both answered every query with the same series and values"
               if not bad else f"**Answers differ** on: {', '.join(bad)} (examples in latest.json)")
            + " (outside the first 1 h 5 m, where Prometheus 2 and 3 extrapolate `rate` differently).")
        best = ", ".join(f"{q['name']} {q['mytsdb']['min_s'] / q['prometheus']['min_s']:.2f}" for q in r["queries"])
        user = ", ".join(f"{q['name']} {q['mytsdb']['user_cpu_s']:.2f}/{q['prometheus']['cpu_s']:.2f}"
                         for q in r["queries"] if "user_cpu_s" in q["mytsdb"])
        notes.append(f"Query spread: best-of-{c['runs']} ratios {best}. Server CPU-s per query, MyTSDB user time / "
                     f"Prometheus user + system: {user}; MyTSDB's system time (page faults on fresh memory, "
                     "costly on this VM, whose balloon reports freed memory to the host) is most of its spread.")
    for section, err in results.get("errors", {}).items():
        lines.append(f"| {section} | failed: {err} | | | |")
    if len(lines) == 4:  # nothing but the header: only the cluster or compaction section ran
        lines = lines[:1]
    text = "\n".join(lines + [""] + [f"- {n}" for n in notes]) + "\n"
    if "cluster" in results:
        text += "\n" + cluster_markdown(results["cluster"])
    if "compaction" in results:
        text += "\n" + compaction_report.markdown(results["compaction"])
    if "analytics" in results:
        from bench.analytics import markdown as analytics_markdown
        text += "\n" + analytics_markdown(results["analytics"])
    if "flightsql" in results:
        from bench.flightsql import markdown as flightsql_markdown
        text += "\n" + flightsql_markdown(results["flightsql"])
    if "export" in results:
        from bench.export import markdown as export_markdown
        text += "\n" + export_markdown(results["export"])
    return text


def _range(x: dict) -> str:
    return f"{x['samples_per_second']:,} ({min(x['rounds']) / 1e3:.0f}k–{max(x['rounds']) / 1e3:.0f}k)"


def cluster_markdown(r: dict) -> str:
    """The cluster section: `mytsdb local-cluster` against `all` mode (not against Prometheus)."""
    out: list[str] = []
    notes: list[str] = []
    if "ingest" in r:
        i = r["ingest"]
        c, a = i["cluster"], i["all"]
        out += ["| cluster benchmark | cluster | `all` mode | cluster / all |", "|---|---:|---:|---:|",
                f"| ingest, samples/s (remote write, {i['samples_per_request']:,} series × 1 sample per request, "
                f"{i['concurrency']} connections, {i['samples'] / 1e6:g}M samples, median of {i['rounds']}; min–max; "
                f"RF=3: every sample stored 3 times) | {_range(c)} | {_range(a)} | {i['ratio']:.2f} |",
                f"| ingest, samples per server CPU-second (every cluster process) "
                f"| {c['samples_per_cpu_second']:,} | {a['samples_per_cpu_second']:,} | {i['cpu_ratio']:.2f} |",
                f"| server cores busy during ingest | {c['server_cores']:.2f} | {a['server_cores']:.2f} "
                f"| {c['server_cores'] / max(a['server_cores'], 0.01):.2f} |", ""]
        cpu = c["cpu_by_process"]
        shown = [k for k in cpu if cpu[k] >= 0.05]
        rest = sum(v for k, v in cpu.items() if k not in shown)
        out += ["| ingest CPU-seconds by process (median run) | " + " | ".join(shown) + " | the rest | cluster total "
                "| `all` mode |", "|---" + "|---:" * (len(shown) + 3) + "|",
                f"| {i['samples'] / 1e6:g}M samples | " + " | ".join(f"{cpu[k]:.2f}" for k in shown)
                + f" | {rest:.2f} | {sum(cpu.values()):.2f} | {sum(a['cpu_by_process'].values()):.2f} |", ""]
        copies = ", ".join(f"{x.get('copies_per_sample', 0):.3f}" for x in c["runs"])
        notes.append(f"Cluster: `mytsdb local-cluster` ({', '.join(f'{v} {k}' for k, v in i['processes'].items())}; "
                     "etcd, SeaweedFS), started fresh for each round; `all` mode likewise. Every run counted only "
                     "when the distributor's acknowledged samples and a PromQL `count_over_time` over every series "
                     "(through the querier) both equalled the samples sent. Copies per sample in the ingesters "
                     f"after each run: {copies}. A quorum (2 of 3) is what an acknowledgement promises; below 3, "
                     "a third replica's push reached its ingester after the next push of the same series and was "
                     "refused there as out of order, which only that ingester's answer (not awaited) says; with "
                     "`out_of_order_time_window` open every copy lands. Queries merge the replicas, so they are "
                     f"complete either way. Other processes used up to {i['max_other_cpu_cores']:.2f} cores during "
                     "the runs.")
    if "queries" in r:
        q = r["queries"]
        c = q["config"]
        out += [f"| query ({c['hours']} h of {c['series']:,} series, step {c['query_step_s']} s), median s "
                "| cluster, L0 | all, L0 | cluster / all | cluster, compacted | all, compacted | cluster / all |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for row, comp in zip(q["queries"], q.get("compacted_queries") or [None] * len(q["queries"])):
            same = all(x["agreement"].get("equal", True) for x in (row, comp) if x is not None)
            cells = f"| {row['cluster_median_s']:.3f} | {row['all_median_s']:.3f} | {row['ratio']:.2f} "
            cells += (f"| {comp['cluster_median_s']:.3f} | {comp['all_median_s']:.3f} | {comp['ratio']:.2f} |"
                      if comp is not None else "| | | |")
            out.append(f"| `{row['query'].replace('|', '&#124;')}`{'' if same else ' (**answers differ**)'} {cells}")
        out.append("")
        load = q.get("load", {})
        notes.append(f"Queries: {q['samples'] / 1e6:.2f}M samples loaded into both through remote write and flushed "
                     f"(push + flush, s: cluster {load.get('cluster', {}).get('push_seconds', '?')} + "
                     f"{load.get('cluster', {}).get('flush_seconds', '?')}, all {load.get('all', {}).get('push_seconds', '?')}"
                     f" + {load.get('all', {}).get('flush_seconds', '?')}); the cluster's querier fans out over Flight to "
                     "3 ingesters (the files they flushed) and 2 store gateways (SeaweedFS, their disk cache warm after "
                     f"the warm-up run); all mode reads its local bucket. {c['warmup']} warm-up + {c['runs']} runs, "
                     "interleaved, median; every answer compared point by point with all mode's "
                     + ("(all equal). " if all(x["agreement"].get("equal", True) for x in q["queries"]
                                               + (q.get("compacted_queries") or [])) else "(**some differ**). ")
                     + "L0: as flushed (the cluster's bucket holds the three replicas' copies); compacted: after "
                     f"`mytsdb compact --once` (all: {_compacted(q, 'all')}; cluster: {_compacted(q, 'cluster')}).")
    if "profile" in r:
        p = r["profile"]
        out += [f"| write path, CPU split ({p['samples'] / 1e6:g}M samples: distributor + 3 ingesters, RF=3, one "
                "process) | CPU-s | share |", "|---|---:|---:|"]
        for k, v in sorted(p["share"].items(), key=lambda kv: -kv[1]):
            out.append(f"| {PROFILE_LABELS.get(k, k)} | {p['cpu_seconds'][k]:.2f} | {v:.1%} |")
        out.append(f"| total (over gRPC; in-line {p['inline_cpu_seconds']:.2f}) | {p['grpc_cpu_seconds']:.2f} | 100% |")
        out.append("")
        g = p["grpc_by_thread"]
        notes.append(f"Write-path split: `bench/cluster_profile.py`, {p['samples_per_cpu_second_grpc']:,} samples per "
                     f"CPU-second over gRPC, {p['samples_per_cpu_second_inline']:,} in-line. gRPC by thread, CPU-s: "
                     f"distributor's {g['distributor thread']:.2f}, servers' handlers {g['handler threads']:.2f}, "
                     f"gRPC's pollers and core {g['other threads']:.2f} "
                     f"({1e6 * p['cpu_seconds']['grpc'] / p['pushes']:.0f} µs per push of ~{p.get('push_kb', 0):.0f} kB). "
                     f"WAL: {p['fsyncs']:,} fsyncs waited {p['fsync_wait_seconds']:.2f} s of the in-line run's "
                     f"{p['inline_wall_seconds']:.2f} s wall (not CPU).")
    return "\n".join(out + [f"- {n}" for n in notes]) + "\n"


def _compacted(q: dict, kind: str) -> str:
    """The compactor's summary line, up to the duplicates it removed."""
    line = q.get("compaction", {}).get(kind, "?")
    return line.split(": ", 1)[-1].split("; retention")[0]


PROFILE_LABELS = {
    "decode": "decode: snappy + remote-write protobuf, validation",
    "hashing": "hashing: series → ring tokens, owners",
    "arrow": "Arrow: batches and IPC for the wire, head and WAL records",
    "protobuf": "protobuf: internal PushRequest/PushResponse",
    "wal": "WAL: writes and fsync (CPU)",
    "head": "head: append rules, per-series state",
    "grpc": "gRPC: client and server (transport, threads)",
    "other": "other",
}
