"""Cluster: the distributed write path against `all` mode, on the same machine and feed.

`python -m bench.run --only cluster [--quick]` runs three parts:
1. Ingest (here): the ingest bench's precomputed remote-write feed (1M samples; `--quick`
   250k), pushed by the same client processes into a fresh `all`-mode server and into the
   distributor of a fresh `mytsdb local-cluster` (etcd, SeaweedFS, 3 ingesters with
   replication factor 3, 2 store gateways, a querier, a compactor), alternating which goes
   first, median of the rounds. Samples/s on the client's clock; the CPU-seconds of every
   cluster process from /proc/<pid>/stat, so the report shows where the CPU goes. A run
   counts only if the server accepted the whole feed: the distributor's quorum-acknowledged
   count, and a PromQL `count_over_time` of every series through the querier (the
   ingesters' replicas merged), must both equal the samples sent.
2. Queries (`bench/cluster_query.py`): the query bench's heavy PromQL queries on the
   querier against `all` mode, both loaded with the same data and flushed.
3. Profile (`bench/cluster_profile.py`): the write path's CPU split, in one process.

The cluster is the documented one, started as a subprocess with
`mytsdb local-cluster --config <temp yaml> --data-dir <temp dir>` (limits off, as for every
bench target) and stopped with SIGINT, as Ctrl-C would; whatever is still running after
that (or after a failure half-way) is killed by PID: the processes whose command line names
the run's temp dir, which no other process does.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import httpx
import yaml

from bench import targets
from bench.client import LoadConfig, send_all
from bench.feed import Feed
from bench.query import QueryConfig
from bench.targets import HOST, Target, machine_busy_seconds, wait_for_quiet

PROCESSES = {"distributor": 1, "ingester": 3, "store-gateway": 2, "querier": 1, "compactor": 1}
INGESTED = "mytsdb_ingester_ingested_samples_total"  # the distributor's: samples a quorum acknowledged


@dataclass(frozen=True)
class ClusterBenchConfig:
    concurrency: int = 4
    rounds: int = 3
    query: QueryConfig = field(default_factory=lambda: QueryConfig.quick(runs=3))


class _Pid:
    """A process the launcher started: just enough of `Popen` for `Target`'s readers."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def poll(self) -> int | None:
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return 0
        return 0 if state in ("Z", "X") else None


@dataclass
class LocalCluster:
    """A running `mytsdb local-cluster`: its URLs as printed, its processes from cluster.json."""

    workdir: Path
    data_dir: Path
    launcher: subprocess.Popen
    distributor_url: str
    querier_url: str
    members: dict[str, Target]   # every process of cluster.json, etcd and SeaweedFS included
    roles: dict[str, str]        # name -> role

    @property
    def distributor(self) -> Target:
        return self.members[next(n for n, r in self.roles.items() if r == "distributor")]

    def of_role(self, role: str) -> list[Target]:
        return [self.members[n] for n, r in self.roles.items() if r == role]

    def cpu_seconds(self) -> dict[str, float]:
        return {n: t.cpu_seconds() for n, t in self.members.items()}

    def launcher_cpu(self) -> float:
        return Target("launcher", self.workdir, 0, "", "", proc=self.launcher).cpu_seconds()


def _ours(workdir: Path) -> list[int]:
    """PIDs of live processes whose command line names `workdir` (ours alone: a fresh temp dir)."""
    needle, pids = str(workdir).encode(), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "cmdline").read_bytes() and _Pid(int(entry.name)).poll() is None:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def _stop(launcher: subprocess.Popen | None, workdir: Path, timeout_s: float = 120.0) -> None:
    """SIGINT to the launcher (it stops the services, then etcd and SeaweedFS); SIGKILL by
    PID for anything left."""
    if launcher is not None and launcher.poll() is None:
        launcher.send_signal(signal.SIGINT)
        try:
            launcher.wait(timeout_s)
        except subprocess.TimeoutExpired:
            print(f"  local-cluster did not stop within {timeout_s:.0f}s: killing it", flush=True)
            launcher.kill()
            launcher.wait()
    for pid in _ours(workdir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _tail(path: Path, n: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else ""


@contextlib.contextmanager
def local_cluster(limits: dict | None = None, timeout_s: float = 180.0) -> Iterator[LocalCluster]:
    """`mytsdb local-cluster` in a fresh temp dir, the bench's limits plus `limits`; always
    stopped and removed."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-cluster-", dir=os.environ.get("MYTSDB_BENCH_TMP")))
    data_dir, log_path = workdir / "cluster", workdir / "local-cluster.log"
    config = {"processes": dict(PROCESSES), "mytsdb": {
        "limits": {**targets.MYTSDB_LIMITS, **(limits or {})},
        "ring": {"heartbeat_period": "5s"},  # as examples/local-cluster/cluster.yaml
        "store_gateway": {"manifest_refresh": "1s"}}}
    (workdir / "cluster.yaml").write_text(yaml.safe_dump(config))
    argv = [str(Path(sys.executable).with_name("mytsdb")), "local-cluster", "--config", str(workdir / "cluster.yaml"),
            "--data-dir", str(data_dir)]
    launcher = None
    try:
        with open(log_path, "wb") as log:
            launcher = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout_s
        while not re.search(r"^cluster ready$", log_path.read_text(errors="replace"), re.M):
            if launcher.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"local-cluster not ready (exit code {launcher.poll()})")
            time.sleep(0.2)
        urls = dict(re.findall(r"^(distributor|querier): (http://\S+)$", log_path.read_text(errors="replace"), re.M))
        info = json.loads((data_dir / "cluster.json").read_text())
        members = {p["name"]: Target(p["name"], workdir, p["http_port"], "/api/v1/push", "/ready",
                                     proc=_Pid(p["pid"])) for p in info["processes"]}
        members["etcd"] = Target("etcd", workdir, 0, "", "", proc=_Pid(info["etcd"]["pid"]))
        members["seaweedfs"] = Target("seaweedfs", workdir, 0, "", "", proc=_Pid(info["s3"]["pid"]))
        roles = {p["name"]: p["role"] for p in info["processes"]} | {"etcd": "etcd", "seaweedfs": "seaweedfs"}
        yield LocalCluster(workdir, data_dir, launcher, urls["distributor"], urls["querier"], members, roles)
    except BaseException:
        print(f"  local-cluster log tail:\n{_tail(log_path)}", flush=True)
        raise
    finally:
        _stop(launcher, workdir)
        shutil.rmtree(workdir, ignore_errors=True)


def count_samples(url: str, feed: Feed) -> int:
    """Samples of the feed a PromQL query finds (every series, the whole feed's span)."""
    span_s = feed.cfg.n_steps * feed.cfg.step_ms // 1000
    r = httpx.get(url + "/api/v1/query", params={"query": f'sum(count_over_time({{__name__=~".+"}}[{span_s}s]))',
                                                 "time": int(feed.timestamps[-1]) / 1000}, timeout=300)
    r.raise_for_status()
    result = r.json()["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


# --- ingest ----------------------------------------------------------------------------------

def _push(port: int, feed: Feed, concurrency: int, cpu: Callable[[], dict[str, float]],
          own: Callable[[], float]) -> dict:
    load = LoadConfig(concurrency, feed.cfg.series_per_request, feed.cfg.slices)
    busy0, before, own0 = machine_busy_seconds(), cpu(), own()
    res = send_all(HOST, port, "/api/v1/push", feed.bodies, load, label="bench")
    spent = {k: round(v - before[k], 2) for k, v in cpu().items()}
    total = sum(spent.values())
    other = machine_busy_seconds() - busy0 - total - res.client_cpu_seconds - (own() - own0)
    out = {"samples": res.samples, "seconds": round(res.seconds, 3), "samples_per_second": round(res.samples_per_second),
           "errors": res.errors, "server_cpu_seconds": round(total, 2), "server_cores": round(total / res.seconds, 2),
           "samples_per_cpu_second": round(res.samples / total) if total else None, "cpu_by_process": spent,
           "client_cpu_seconds": round(res.client_cpu_seconds, 2),
           "other_cpu_cores": round(max(other, 0.0) / res.seconds, 2)}
    if res.first_error:
        out["first_error"] = res.first_error
    return out


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


def _round(kind: str, feed: Feed, cfg: ClusterBenchConfig) -> dict:
    n = feed.cfg.n_samples
    if kind == "all":
        with targets.running("mytsdb") as t:
            wait_for_quiet()
            res = _push(t.port, feed, cfg.concurrency, lambda: {"all": t.cpu_seconds()}, _own_cpu)
            res["accepted_samples"] = int(t.metric(INGESTED))
            res["queried_samples"] = count_samples(t.url, feed)
    else:
        with local_cluster() as c:
            wait_for_quiet()
            res = _push(c.distributor.port, feed, cfg.concurrency, c.cpu_seconds,
                        lambda: _own_cpu() + c.launcher_cpu())
            res["accepted_samples"] = int(c.distributor.metric(INGESTED))
            res["queried_samples"] = count_samples(c.querier_url, feed)
            # Each ingester counts its own appends. The third replica's push may still be in
            # flight when the client has its answer (a quorum of 2), hence the short wait.
            ingesters = c.of_role("ingester")
            copies = _settled(lambda: sum(t.metric(INGESTED) for t in ingesters), 3 * n, timeout_s=10)
            res["copies_per_sample"] = round(copies / n, 4)
    if res["errors"] or res["accepted_samples"] != n or res["queried_samples"] != n:
        raise RuntimeError(f"{kind} did not accept the whole feed ({n:,} samples): {res}")
    return res


def ingest(feed: Feed, cfg: ClusterBenchConfig) -> dict:
    runs: dict[str, list[dict]] = {"all": [], "cluster": []}
    for r in range(cfg.rounds):
        for kind in ("all", "cluster")[:: 1 if r % 2 == 0 else -1]:
            print(f"[cluster] ingest round {r + 1}/{cfg.rounds}, {kind}: {feed.cfg.n_samples:,} samples, "
                  f"{len(feed.bodies)} requests, {cfg.concurrency} connections", flush=True)
            res = _round(kind, feed, cfg)
            busy = {k: v for k, v in res["cpu_by_process"].items() if v >= 0.05}
            print(f"  {kind}: {res['samples_per_second']:,} samples/s, {res['server_cpu_seconds']} server CPU-s "
                  f"{busy}, {res['queried_samples']:,} samples found by PromQL, other processes "
                  f"{res['other_cpu_cores']} cores", flush=True)
            runs[kind].append(res)
    out: dict = {"samples": feed.cfg.n_samples, "requests": len(feed.bodies), "rounds": cfg.rounds,
                 "concurrency": cfg.concurrency, "samples_per_request": feed.cfg.series_per_request,
                 "processes": dict(PROCESSES)}
    for kind, rs in runs.items():
        rates = [x["samples_per_second"] for x in rs]
        median_run = sorted(rs, key=lambda x: x["samples_per_cpu_second"])[len(rs) // 2]
        out[kind] = {"samples_per_second": round(statistics.median(rates)), "rounds": rates,
                     "samples_per_cpu_second": round(statistics.median(x["samples_per_cpu_second"] for x in rs)),
                     "server_cores": round(statistics.median(x["server_cores"] for x in rs), 2),
                     "cpu_by_process": median_run["cpu_by_process"], "runs": rs}
    out["ratio"] = round(out["cluster"]["samples_per_second"] / out["all"]["samples_per_second"], 3)
    out["cpu_ratio"] = round(out["cluster"]["samples_per_cpu_second"] / out["all"]["samples_per_cpu_second"], 3)
    out["max_other_cpu_cores"] = max(x["other_cpu_cores"] for rs in runs.values() for x in rs)
    return out


def _settled(read: Callable[[], float], want: float, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    value = read()
    while value < want and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    return value
