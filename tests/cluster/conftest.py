"""A real distributed-mode cluster, started once per test run: etcd, SeaweedFS S3, and one process per
service instance (3 ingesters with RF=3, 2 store gateways, a querier, a distributor),
talking over loopback; each started and stopped by PID."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.fixtures.server import free_port, wait_ready

ROLES = [("ingester", "ingester-1"), ("ingester", "ingester-2"), ("ingester", "ingester-3"),
         ("store-gateway", "store-gateway-1"), ("store-gateway", "store-gateway-2"),
         ("querier", "querier-1"), ("distributor", "distributor-1")]


@dataclass
class ServiceProcess:
    role: str
    instance_id: str
    root: Path
    config_path: Path
    ports: tuple[int, int, int] = field(default_factory=lambda: (free_port(), free_port(), free_port()))
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def flight_addr(self) -> str:
        return f"127.0.0.1:{self.ports[2]}"

    def launch(self) -> "ServiceProcess":
        exe = Path(sys.executable).with_name("mytsdb")
        log = open(self.root / f"{self.instance_id}.log", "ab")
        self.proc = subprocess.Popen(
            [str(exe), self.role, "--config", str(self.config_path), "--data-dir", str(self.root / self.instance_id),
             "--instance-id", self.instance_id, "--http-port", str(self.ports[0]), "--grpc-port", str(self.ports[1]),
             "--flight-port", str(self.ports[2])], stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 60) -> "ServiceProcess":
        wait_ready(self.url, self.proc, timeout, self.log_tail, self.instance_id)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def terminate(self, timeout: float = 60) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, n: int = 30) -> str:
        path = self.root / f"{self.instance_id}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else ""


@dataclass
class Cluster:
    processes: dict[str, ServiceProcess]

    def __getitem__(self, instance_id: str) -> ServiceProcess:
        return self.processes[instance_id]

    @property
    def distributor(self) -> str:
        return self.processes["distributor-1"].url

    @property
    def querier(self) -> str:
        return self.processes["querier-1"].url


CACHE_BOUND = 16 * 1024


@pytest.fixture(scope="session")
def cluster(tmp_path_factory, etcd_server, s3_server):
    root = tmp_path_factory.mktemp("cluster")
    s3 = s3_server.storage_config(f"cluster-{uuid.uuid4().hex[:8]}").s3
    config = {
        "storage": {"backend": "s3", "s3": {
            "endpoint": s3.endpoint, "region": s3.region, "bucket": s3.bucket, "access_key_id": s3.access_key_id,
            "secret_access_key": s3.secret_access_key, "allow_http": True, "force_path_style": True,
            "prefix": s3.prefix}},
        "ring": {"kvstore": "etcd", "etcd_endpoints": etcd_server.endpoint, "prefix": f"{uuid.uuid4().hex[:8]}/",
                 "heartbeat_period": "1s", "heartbeat_timeout": "10s", "poll_period": "200ms"},
        # A bound well below the data, so that the test sees eviction keep the cache within it.
        "store_gateway": {"manifest_refresh": "1s", "cache_max_bytes": CACHE_BOUND},
        "limits": {"out_of_order_time_window": "100y", "ingestion_rate": 1e9, "ingestion_burst_size": 10**9},
        "ingester": {"wal_fsync": "always"},
        # Mimir's 2 s suits dedicated machines; on a 2-CPU CI runner eight processes share the cores.
        "distributor": {"remote_timeout": "10s"},
    }
    config_path = root / "mytsdb.yaml"
    config_path.write_text(yaml.safe_dump(config))
    processes = {iid: ServiceProcess(role, iid, root, config_path).launch() for role, iid in ROLES}
    try:
        for p in processes.values():
            p.wait_ready()
        yield Cluster(processes)
    finally:
        for p in processes.values():
            p.terminate(timeout=30)
