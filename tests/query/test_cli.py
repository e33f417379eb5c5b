"""`mytsdb explain`, run as a subprocess of the venv's `mytsdb` over a data dir."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.query.conftest import push
from tests.support import BASE_TS
from tsdb.tenancy import Tenant

MYTSDB = str(Path(sys.executable).parent / "mytsdb")
STEP = 15_000


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MYTSDB, "explain", *args], capture_output=True, text=True, timeout=60)


def test_explain_cli(tmp_path, make_services):
    services = make_services()
    tenant = Tenant("cli")
    push(services, tenant, [({"__name__": "up", "job": j}, [(BASE_TS + k * STEP, 1.0) for k in range(40)])
                            for j in ("a", "b")])
    services.ingester.flush(tenant)
    push(services, tenant, [({"__name__": "up", "job": "c"}, [(BASE_TS, 1.0)])])  # head only: not shown

    end_s = (BASE_TS + 39 * STEP) / 1000
    out = run("--data-dir", str(tmp_path), "--tenant", "cli", "--start", "2023-11-14T22:13:20Z",
              "--end", str(end_s), 'sum(rate(up{job=~"a|c"}[1m])) + count(up offset 1h)')
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "head: not read" in text
    assert 'selector 1: up{job=~"a|c"}' in text and "selector 2: up offset 1h" in text
    assert "window: 2023-11-14T22:12:20.000Z .. 2023-11-14T22:23:05.000Z" in text
    assert "files: 1 in the manifest, 1 read" in text and "row groups 1/1 read" in text
    assert "returned: 1 series, 40 samples" in text          # job="a"; "c" lives in the head
    assert "1 skipped (time range)" in text                  # the offset selector's window is empty

    bad = run("--data-dir", str(tmp_path), "--tenant", "cli", "up{")
    assert bad.returncode == 2 and "parse error" in bad.stderr
    bad = run("--data-dir", str(tmp_path), "--tenant", "a/b", "up")
    assert bad.returncode == 2 and "a/b" in bad.stderr
