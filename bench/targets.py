"""The two systems under test, as real processes on free loopback ports.

Each target gets its own temp dir (under $MYTSDB_BENCH_TMP or the system temp dir; the
report names its filesystem, because on tmpfs an fsync is free), is started by PID, and
is always stopped and removed:
`running(...)` is a context manager that kills the process and deletes the dir even when
the benchmark fails half-way.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import httpx
import yaml

PROMETHEUS = "/usr/bin/prometheus"
HOST = "127.0.0.1"

# The bench's MyTSDB settings: rate limits off; everything else (WAL fsync `always`) default.
MYTSDB_LIMITS = {"ingestion_rate": 1e9, "ingestion_burst_size": 1_000_000_000}


def machine_busy_seconds() -> float:
    """CPU time all CPUs spent busy (or stolen by the hypervisor) since boot, from /proc/stat;
    minus what the bench's own processes used, it shows how much other work disturbed a run."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user, nice, system, steal; irq/softirq left out: loopback traffic of the bench itself lands there.
    return (ticks[0] + ticks[1] + ticks[2] + ticks[7]) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(threshold_cores: float = 0.3, max_wait_s: float = 20.0) -> float:
    """Between runs the bench itself is idle, so busy CPUs mean other work. Wait (a bounded
    time) for it to stop; returns the cores still busy when we go ahead."""
    deadline = time.monotonic() + max_wait_s
    while True:
        b0, t0 = machine_busy_seconds(), time.monotonic()
        time.sleep(1.0)
        busy = (machine_busy_seconds() - b0) / (time.monotonic() - t0)
        if busy <= threshold_cores or time.monotonic() >= deadline:
            return busy
        print(f"  waiting for other processes to finish ({busy:.2f} CPUs busy)", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def ensure_prometheus() -> str:
    """Install Debian's `prometheus` if missing (the binary only; its service is never
    started by us) and return `prometheus --version`'s first line."""
    if not Path(PROMETHEUS).exists():
        print("  installing the Debian package prometheus (apt-get)...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus"],
                       check=True, env=env, stdout=subprocess.DEVNULL)
    out = subprocess.run([PROMETHEUS, "--version"], capture_output=True, text=True, check=True)
    return (out.stdout or out.stderr).splitlines()[0].strip()


@dataclass(frozen=True)
class MemInfo:
    rss: int  # VmRSS, bytes
    hwm: int  # VmHWM (peak RSS), bytes


@dataclass
class Target:
    """A started server: where to push, how to read its memory, how to stop it."""

    name: str
    workdir: Path
    port: int
    push_path: str
    ready_path: str
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    extra: dict = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")

    def memory(self) -> MemInfo:
        """RSS and peak RSS of the server process, from /proc/<pid>/status."""
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024
        return MemInfo(fields["VmRSS"], fields["VmHWM"])

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (all threads) so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def metric(self, name: str) -> float:
        """Sum of every series of a metric on the target's /metrics."""
        text = httpx.get(self.url + "/metrics", timeout=30).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self, timeout: float = 120.0) -> int | None:
        """SIGTERM (both servers shut down cleanly on it), SIGKILL after `timeout`."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def log_tail(self, n: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def start(self) -> "Target":
        self.log_path = self.workdir / f"{self.name}.log"
        with open(self.log_path, "wb") as log:
            # A new session: Ctrl-C on the bench reaches us, and we stop the server ourselves.
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready()
        return self


def mytsdb(workdir: Path, ingester: dict | None = None) -> Target:
    """`mytsdb all` with the bench limits; `ingester` adds ingester settings."""
    data = workdir / "data"
    data.mkdir(parents=True)
    config = {"limits": dict(MYTSDB_LIMITS)}
    if ingester:
        config["ingester"] = ingester
    cfg_path = workdir / "mytsdb.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    t = Target("mytsdb", workdir, free_port(), "/api/v1/push", "/ready", extra={"data_dir": data})
    exe = Path(sys.executable).with_name("mytsdb")
    t.argv = [str(exe), "all", "--config", str(cfg_path), "--data-dir", str(data), "--http-port", str(t.port),
              "--grpc-port", str(free_port()), "--flight-port", str(free_port())]
    return t


def prometheus(workdir: Path) -> Target:
    """Prometheus with the remote-write receiver and admin API, scraping nothing, so its
    TSDB holds exactly what the bench pushes."""
    data = workdir / "data"
    data.mkdir(parents=True)
    cfg_path = workdir / "prometheus.yml"
    cfg_path.write_text(yaml.safe_dump({"global": {"scrape_interval": "15s"}}))
    t = Target("prometheus", workdir, free_port(), "/api/v1/write", "/-/ready", extra={"data_dir": data})
    t.argv = [PROMETHEUS, f"--config.file={cfg_path}", f"--storage.tsdb.path={data}",
              f"--web.listen-address={HOST}:{t.port}", "--web.enable-remote-write-receiver",
              "--web.enable-admin-api", "--log.level=warn"]
    return t


@contextlib.contextmanager
def running(kind: str, configure: Callable[[Target], None] | None = None, **kwargs) -> Iterator[Target]:
    """Start `kind` ("mytsdb" or "prometheus") in a fresh temp dir; always clean up. The
    server is killed at the end: the dir is thrown away, so a shutdown flush would only
    cost time. `configure(target)` may rewrite its config files before it starts."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-", dir=os.environ.get("MYTSDB_BENCH_TMP")))
    target: Target | None = None
    try:
        target = (mytsdb if kind == "mytsdb" else prometheus)(workdir, **kwargs)
        if configure is not None:
            configure(target)
        yield target.start()
    except BaseException:
        if target is not None:
            print(f"  {kind} log tail:\n{target.log_tail()}", flush=True)
        raise
    finally:
        if target is not None:
            target.kill()
        shutil.rmtree(workdir, ignore_errors=True)
