"""One real `mytsdb all` server for the Flight SQL contract tests, with a tenant per case.

The server promotes one label per file (`ingester.max_promoted_labels: 1`), so files of the
same tenant promote different labels, and it never compacts, so overlapping flushes stay
overlapping files.
"""
from __future__ import annotations

import struct

import adbc_driver_flightsql.dbapi as flight_sql
import httpx
import numpy as np
import pytest

from tests.fixtures.server import BACKFILL_CONFIG, MytsdbProcess
from tsdb.remote_write.encode import encode_series

HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}
T0 = 1_700_000_000_000
STEP = 15_000
CONFIG = {**BACKFILL_CONFIG, "ingester": {"max_promoted_labels": 1},
          "compactor": {"compaction_interval": "1000h"}}

# Tenant sq-cols: the first file promotes `job` (on both of its series), the second `zone`.
COLS_FIRST = [{"__name__": "sq_m", "job": "x", "zone": "z1"}, {"__name__": "sq_m", "job": "y"}]
COLS_SECOND = [{"__name__": "sq_m", "zone": "z2"}, {"__name__": "sq_m", "zone": "z3", "job": "j"}]
COLS_N = 20
# Tenant sq-dup: three overlapping writes of two series (two flushed, the last one in the head),
# each later write changing one value it shares with an earlier one.
DUP_SERIES = [{"__name__": "sq_dup", "instance": f"i{i}"} for i in range(2)]
DUP_N = 160
# Tenant sq-stale: s1 ends with a stale marker (flushed), s2 holds an ordinary NaN sample
# (flushed), s3 ends with a stale marker in the head.
STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
STALE_SERIES = [{"__name__": "sq_stale", "instance": f"s{i}"} for i in (1, 2, 3)]


def points(lo: int, hi: int, scale: float = 1.0) -> list[tuple[int, float]]:
    return [(T0 + k * STEP, scale * k) for k in range(lo, hi)]


def dup_writes() -> list[dict[int, float]]:
    """The three writes per series as {step: value}: 0-99, 50-149 (step 60 changed) and
    140-159 (step 145 changed)."""
    first = {k: float(k) for k in range(0, 100)}
    second = {k: float(k) for k in range(50, 150)} | {60: 1000.0}
    third = {k: float(k) for k in range(140, DUP_N)} | {145: 2000.0}
    return [first, second, third]


def as_samples(write: dict[int, float]) -> list[tuple[int, float]]:
    return [(T0 + k * STEP, v) for k, v in sorted(write.items())]


def dup_expected() -> dict[int, float]:
    """The duplicate rule: the latest write of each step wins."""
    out: dict[int, float] = {}
    for write in dup_writes():
        out |= write
    return out


def push(server: MytsdbProcess, tenant: str, series: list) -> None:
    with server.client(tenant) as c:
        r = c.post("/api/v1/push", content=encode_series(series), headers=HEADERS)
        assert r.status_code == 204, r.text


@pytest.fixture(scope="package")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("sql")
    proc = MytsdbProcess(root / "server", CONFIG)
    proc.data_dir.mkdir()
    proc.start()
    push(proc, "sq-cols", [(lb, points(0, COLS_N)) for lb in COLS_FIRST])
    writes = dup_writes()
    push(proc, "sq-dup", [(lb, as_samples(writes[0])) for lb in DUP_SERIES])
    s1, s2, s3 = STALE_SERIES
    push(proc, "sq-stale", [(s1, points(0, 10) + [(T0 + 10 * STEP, STALE)]),
                            (s2, points(0, 5) + [(T0 + 5 * STEP, float("nan"))] + points(6, 10))])
    proc.flush()
    push(proc, "sq-stale", [(s3, points(0, 5) + [(T0 + 5 * STEP, STALE)])])
    push(proc, "sq-cols", [(lb, points(COLS_N, 2 * COLS_N)) for lb in COLS_SECOND])
    push(proc, "sq-dup", [(lb, as_samples(writes[1])) for lb in DUP_SERIES])
    proc.flush()
    push(proc, "sq-dup", [(lb, as_samples(writes[2])) for lb in DUP_SERIES])  # stays in the head
    yield proc
    proc.kill()


def connect(server: MytsdbProcess, tenant: str):
    return flight_sql.connect(f"grpc://127.0.0.1:{server.flight_port}",
                              db_kwargs={"adbc.flight.sql.rpc.call_header.x-scope-orgid": tenant})


def rows(conn, sql: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def promql_vector(server: MytsdbProcess, tenant: str, query: str, at_ms: int) -> dict[str, float]:
    """An instant query's result by `instance`."""
    r = httpx.get(server.url + "/api/v1/query", params={"query": query, "time": at_ms / 1000},
                  headers={"X-Scope-OrgID": tenant}, timeout=30)
    r.raise_for_status()
    return {s["metric"].get("instance", ""): float(s["value"][1]) for s in r.json()["data"]["result"]}


def dup_sum() -> float:
    return float(np.sum(list(dup_expected().values())))
