"""The export endpoint on a real server over a range of several read windows (head and
flushed files), and its series limit, checked before any sample is read."""
from __future__ import annotations

import numpy as np
import pyarrow.ipc as ipc

from tests.analytics.conftest import HEADERS, STEP, T0
from tests.fixtures.server import BACKFILL_CONFIG
from tsdb.client import Client
from tsdb.remote_write.encode import encode_series

HOURS = 10
N = HOURS * 3600_000 // STEP


def series(k: int) -> tuple[dict, list]:
    ts = T0 + STEP * np.arange(N)
    return {"__name__": "ex_m", "pod": f"p{k}"}, list(zip(ts.tolist(), (np.arange(N) * (k + 1.0)).tolist()))


def test_a_long_export_equals_what_was_written(mytsdb_factory):
    server = mytsdb_factory(config=BACKFILL_CONFIG).start()
    with server.client("ex-a") as c:
        assert c.post("/api/v1/push", content=encode_series([series(0), series(1)]), headers=HEADERS).status_code == 204
        server.flush()
        assert c.post("/api/v1/push", content=encode_series([series(2)]), headers=HEADERS).status_code == 204  # head
        r = c.get("/api/v1/export", params={"match[]": "ex_m", "start": T0 / 1000, "end": (T0 + N * STEP) / 1000,
                                            "format": "arrow"})
        assert r.status_code == 200, r.text
    table = ipc.open_stream(r.content).read_all()
    assert table.num_rows == 3 * N
    df = table.to_pandas()
    per_pod = df.groupby("pod", observed=True).agg(n=("value", "size"), total=("value", "sum"),
                                                   first=("timestamp", "min"), last=("timestamp", "max"))
    for k in range(3):
        row = per_pod.loc[f"p{k}"]
        assert row.n == N and row.total == (k + 1.0) * N * (N - 1) / 2
        assert row["first"].value // 1_000_000 == T0 and row["last"].value // 1_000_000 == T0 + (N - 1) * STEP
    assert not df.duplicated(["pod", "timestamp"]).any()  # window edges read once


def test_the_series_limit_is_checked_before_the_stream_starts(mytsdb_factory):
    server = mytsdb_factory(config={**BACKFILL_CONFIG, "limits": {**BACKFILL_CONFIG["limits"],
                                                                  "max_fetched_series_per_query": 2}}).start()
    with server.client("ex-b") as c:
        assert c.post("/api/v1/push", content=encode_series([series(k) for k in range(3)]),
                      headers=HEADERS).status_code == 204
        r = c.get("/api/v1/export", params={"match[]": "ex_m", "start": T0 / 1000, "end": (T0 + N * STEP) / 1000})
        assert r.status_code == 422 and r.json()["errorType"] == "execution", r.text
        assert "limit: 2 series" in r.json()["error"]
        ok = Client(server.url, tenant="ex-b").export('ex_m{pod="p1"}', T0 / 1000, (T0 + N * STEP) / 1000)
        assert len(ok.to_arrow()) == N
