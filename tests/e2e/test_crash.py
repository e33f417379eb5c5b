"""Acknowledged data survives kill -9; a torn WAL tail is skipped, not fatal."""
from __future__ import annotations

import struct

import pyarrow.parquet as pq

from tests.fixtures.server import BACKFILL_CONFIG
from tests.support import batches, expected_rows, make_series, rows_from_table
from tsdb.remote_write.encode import encode_series

HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}


def _push_all(server, tenant, series, per_request=400):
    with server.client(tenant) as c:
        for chunk in batches(series, per_request):
            r = c.post("/api/v1/push", content=encode_series(chunk), headers=HEADERS)
            assert r.status_code == 204, r.text


def _stored(server, tenant):
    table = pq.read_table(str(server.data_dir / "bucket" / tenant / "data"))
    return table, rows_from_table(table)


def test_kill9_before_flush_loses_nothing_and_duplicates_nothing(mytsdb_factory):
    server = mytsdb_factory(config=BACKFILL_CONFIG).start()
    series = make_series(n_instances=2, n_points=200, seed=7)
    _push_all(server, "crash", series)
    server.kill()
    assert not (server.data_dir / "bucket" / "crash").exists()  # nothing was flushed

    server.start()
    server.flush()
    table, rows = _stored(server, "crash")
    want = expected_rows(series)
    assert rows == want
    assert table.num_rows == len(want)  # exactly once

    # A second crash after the flush: the WAL was truncated, so a restart re-adds nothing.
    server.kill()
    server.start()
    server.flush()
    table, rows = _stored(server, "crash")
    assert table.num_rows == len(want)


def test_torn_wal_tail_is_skipped_with_a_warning(mytsdb_factory):
    server = mytsdb_factory(config=BACKFILL_CONFIG).start()
    series = make_series(n_instances=1, n_points=50, seed=3)
    _push_all(server, "torn", series)
    server.kill()
    segments = sorted((server.data_dir / "wal" / "torn").glob("*.seg"))
    assert segments
    with open(segments[-1], "ab") as f:  # the start of a record whose payload never made it
        f.write(struct.pack("<IIB", 5000, 1234, 2) + b"partial")

    server.start()
    assert "torn tail" in server.log_tail(200)
    server.flush()
    table, rows = _stored(server, "torn")
    assert rows == expected_rows(series)
    assert table.num_rows == len(rows)


def test_sigterm_flushes_and_state_survives_restart(mytsdb_factory):
    """A clean shutdown flushes; after restart the newest timestamp per series is still
    known, so an out-of-order sample for a flushed series is rejected."""
    server = mytsdb_factory(config={}).start()
    import time
    now = int(time.time() * 1000)
    labels = {"__name__": "restart_metric", "job": "x"}
    with server.client("t1") as c:
        r = c.post("/api/v1/push", content=encode_series([(labels, [(now - 2000, 1.0), (now - 1000, 2.0)])]),
                   headers=HEADERS)
        assert r.status_code == 204, r.text
    assert server.stop() == 0
    assert list((server.data_dir / "bucket" / "t1" / "data").rglob("*.parquet"))

    server.start()
    with server.client("t1") as c:
        r = c.post("/api/v1/push", content=encode_series([(labels, [(now - 1500, 3.0)])]), headers=HEADERS)
        assert r.status_code == 400
        assert "err-mimir-sample-out-of-order" in r.text
        # An identical resend of the newest sample is still accepted silently.
        r = c.post("/api/v1/push", content=encode_series([(labels, [(now - 1000, 2.0)])]), headers=HEADERS)
        assert r.status_code == 204, r.text
        r = c.post("/api/v1/push", content=encode_series([(labels, [(now - 1000, 5.0)])]), headers=HEADERS)
        assert r.status_code == 400
        assert "err-mimir-sample-duplicate-timestamp" in r.text
