"""A real etcd (Debian `etcd-server`, installed by apt if absent) on loopback ports,
started and stopped by PID; restartable on the same data dir (to test KV outages)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ETCD = Path("/usr/bin/etcd")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_etcd() -> str:
    found = shutil.which("etcd")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends", "etcd-server"]):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {(r.stdout + r.stderr)[-2000:]}")
    # A postinst may have started the packaged service on the default ports: stop it.
    subprocess.run(["pkill", "-f", "^/usr/bin/etcd$"], capture_output=True)
    if not ETCD.is_file():
        raise RuntimeError("apt-get install etcd-server succeeded but /usr/bin/etcd is missing")
    return str(ETCD)


class EtcdServer:
    def __init__(self, data_dir: Path, client_port: int = 0, peer_port: int = 0) -> None:
        self.binary = ensure_etcd()
        self.data_dir = data_dir
        self.client_port, self.peer_port = client_port or _free_port(), peer_port or _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    def start(self, timeout_s: float = 20) -> "EtcdServer":
        peer = f"http://127.0.0.1:{self.peer_port}"
        client = f"http://{self.endpoint}"
        self.proc = subprocess.Popen(
            [self.binary, "--name", "test", "--data-dir", str(self.data_dir), "--listen-client-urls", client,
             "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"test={peer}"],
            stdout=subprocess.DEVNULL, stderr=open(self.data_dir.parent / "etcd.log", "ab"))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{client}/health", timeout=1) as r:
                    if b"true" in r.read():
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.proc.returncode}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("etcd did not become healthy")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
