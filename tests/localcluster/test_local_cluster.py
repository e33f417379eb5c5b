"""`mytsdb local-cluster` end to end: it starts everything, prints where, serves writes and
queries, and Ctrl-C stops every process it started (checked by PID)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.differential.load import HEADERS
from tsdb.remote_write.encode import encode_series

pytestmark = [pytest.mark.slow, pytest.mark.s3]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "local-cluster" / "cluster.yaml"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{pid}").exists() else "X"
    return state not in ("Z", "X")


def test_local_cluster_runs_and_stops(tmp_path):
    exe = Path(sys.executable).with_name("mytsdb")
    proc = subprocess.Popen([str(exe), "local-cluster", "--config", str(EXAMPLE), "--data-dir", str(tmp_path / "lc")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.strip() == "cluster ready":
                break
        assert lines and lines[-1] == "cluster ready", "\n".join(lines[-30:])
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # keep the pipe drained
        listing = [l for l in lines if " | " not in l]
        names = [m.group(1) for l in listing if (m := re.match(r"^([\w-]+): http://127\.0\.0\.1:\d+ pid \d+$", l))]
        assert sorted(names) == sorted(["etcd", "seaweedfs", "ingester-1", "ingester-2", "ingester-3",
                                        "store-gateway-1", "store-gateway-2", "querier-1", "compactor-1",
                                        "distributor-1"])
        assert any(re.match(r"^ingester-1 \| ", l) for l in lines)  # children's logs, prefixed
        distributor = next(l.split(": ", 1)[1] for l in listing if l.startswith("distributor: "))
        querier = next(l.split(": ", 1)[1] for l in listing if l.startswith("querier: "))
        now = int(time.time() * 1000)
        series = [({"__name__": "demo", "i": str(i)}, [(now - 60_000 + j * 15_000, float(j)) for j in range(4)])
                  for i in range(5)]
        r = httpx.post(distributor + "/api/v1/push", content=encode_series(series),
                       headers=HEADERS | {"X-Scope-OrgID": "demo"})
        assert r.status_code == 204, r.text
        q = httpx.get(querier + "/api/v1/query", params={"query": "sum(count_over_time(demo[5m]))"},
                      headers={"X-Scope-OrgID": "demo"}).json()
        assert q["data"]["result"][0]["value"][1] == "20"
        state = json.loads((tmp_path / "lc" / "cluster.json").read_text())
        pids = [p["pid"] for p in state["processes"]] + [state["etcd"]["pid"], state["s3"]["pid"]]
        assert len(state["processes"]) == 8 and all(_alive(p) for p in pids)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 0
    assert not [p for p in pids if _alive(p)]
