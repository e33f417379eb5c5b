"""`examples/flightsql_adbc.py` against a live server, configured from the environment."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_example_runs_from_the_environment(server):
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "MYTSDB_FLIGHT_URL": f"grpc://127.0.0.1:{server.flight_port}", "MYTSDB_TENANT": "sq-dup"}
    out = subprocess.run([sys.executable, str(root / "examples" / "flightsql_adbc.py")], env=env,
                         capture_output=True, text=True, timeout=120, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "tables: ['samples', 'series']" in out.stdout
    assert "sq_dup: 320 samples in 2 series" in out.stdout  # the parameterised query
