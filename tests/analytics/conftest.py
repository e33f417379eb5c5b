"""One real `mytsdb all` server for the analytics tests, with a small dataset in two tenants."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tests.fixtures.server import BACKFILL_CONFIG, MytsdbProcess
from tsdb.client import Client
from tsdb.remote_write.encode import encode_series

HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}
T0 = 1_700_000_000_000
STEP = 15_000
N = 240  # samples per series: 1 h
START_S, END_S = T0 / 1000, (T0 + N * STEP) / 1000


def dataset() -> list:
    """Six series; one has labels named like fixed columns (`timestamp`, `value`)."""
    ts = T0 + STEP * np.arange(N)
    out = []
    for i in range(5):
        values = np.cumsum(np.arange(N) % 7 + i).astype(float)
        out.append(({"__name__": "an_requests_total", "job": "api", "instance": f"i{i}"},
                    list(zip(ts.tolist(), values.tolist()))))
    out.append(({"__name__": "an_odd", "timestamp": "t", "value": "v", "job": "odd"},
                list(zip(ts.tolist(), (np.arange(N) * 0.5).tolist()))))
    return out


def push(client, series) -> None:
    r = client.post("/api/v1/push", content=encode_series(series), headers=HEADERS)
    assert r.status_code == 204, r.text


def expected() -> dict[str, tuple[int, float]]:
    """Per `instance`/`job`: (samples, sum of values), the second file winning at its one
    differing copy."""
    out = {}
    for lb, samples in dataset():
        values = np.array([v for _, v in samples])
        if lb.get("instance") == "i0":
            values[160] += 1000.0
        out[lb.get("instance", lb["job"])] = (N, float(values.sum()))
    return out


def close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k][0] == b[k][0], (k, a[k], b[k])
        assert a[k][1] == pytest.approx(b[k][1], rel=1e-12), (k, a[k], b[k])


def load(proc: MytsdbProcess) -> None:
    """Tenant `an-a` gets the data flushed in two overlapping files (the second holds copies
    of the first one's last 40 samples, one with a new value); `an-b` gets other data."""
    series = dataset()
    with proc.client("an-a") as a, proc.client("an-b") as b:
        push(a, [(lb, s[:200]) for lb, s in series])
        proc.flush()
        copies = [(lb, s[160:]) for lb, s in series]
        lb0, s0 = copies[0]
        copies[0] = (lb0, [(t, v + 1000.0) if k == 0 else (t, v) for k, (t, v) in enumerate(s0)])
        push(a, copies)
        push(b, [({"__name__": "an_requests_total", "job": "secret", "instance": "b"}, [(T0, 42.0)])])
        proc.flush()


def promql_numbers(url: str, tenant: str = "an-a") -> dict[str, tuple[int, float]]:
    """Per `instance`/`job`: (samples, sum of values) by PromQL over the whole range."""
    c = Client(url, tenant=tenant)
    out: dict[str, list] = {}
    for fn in ("count_over_time", "sum_over_time"):
        df = c.query(f'{fn}({{__name__=~"an_.*"}}[2h])', time=END_S).to_pandas()
        for _, row in df.iterrows():
            key = row["instance"] if isinstance(row.get("instance"), str) else row["job"]
            out.setdefault(key, [0, 0.0])[0 if fn == "count_over_time" else 1] = row["value"]
    return {k: (int(v[0]), float(v[1])) for k, v in out.items()}


def grouped(table: pa.Table) -> dict[str, tuple[int, float]]:
    """The same numbers from a tidy table (export, client)."""
    df = table.to_pandas()
    key = df["instance"].astype("string").replace("", None).fillna(df["job"].astype("string"))  # CSV writes a missing label as ""
    g = df.groupby(key)["value"].agg(["count", "sum"])
    return {k: (int(r["count"]), float(r["sum"])) for k, r in g.iterrows()}


def duckdb_numbers(con) -> dict[str, tuple[int, float]]:
    """The same numbers from the `samples` view."""
    rows = con.sql("SELECT coalesce(instance, job), count(*), sum(value) FROM samples GROUP BY 1").fetchall()
    return {k: (n, s) for k, n, s in rows}


@pytest.fixture(scope="package")
def server(tmp_path_factory):
    """A `mytsdb all` on the local filesystem with `load`'s data."""
    root = tmp_path_factory.mktemp("analytics")
    proc = MytsdbProcess(root / "server", {**BACKFILL_CONFIG, "compactor": {"compaction_interval": "1000h"}})
    proc.data_dir.mkdir()
    proc.start()
    load(proc)
    yield proc
    proc.kill()
