"""Every write-path fault gets Prometheus'/Mimir's status and message; request-level
faults change nothing; per-series faults reject only the offending series."""
from __future__ import annotations

import time

import cramjam
import pyarrow.parquet as pq
import pytest

from tests.fixtures.server import MytsdbProcess
from tests.support import expected_rows, rows_from_table
from tsdb.remote_write.encode import encode, encode_series, write_request

HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}
CONFIG = {
    "distributor": {"max_recv_msg_size": "64KiB"},
    "limits": {"ingestion_rate": 1e9, "ingestion_burst_size": 1_000_000_000},
    "overrides": {"limited": {"ingestion_rate": 10, "ingestion_burst_size": 100}},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    p = MytsdbProcess(tmp_path_factory.mktemp("badinput"), CONFIG).start()
    yield p
    p.kill()


def now_ms() -> int:
    return int(time.time() * 1000)


def post(server, tenant, body, headers=HEADERS):
    with server.client(tenant) as c:
        return c.post("/api/v1/push", content=body, headers=headers)


def stored_rows(server, tenant):
    server.flush()
    path = server.data_dir / "bucket" / tenant / "data"
    if not path.exists():
        return set(), 0
    table = pq.read_table(str(path))
    return rows_from_table(table), table.num_rows


def test_request_level_faults_change_nothing(server):
    t = now_ms()
    baseline = [({"__name__": "base", "job": "x"}, [(t - 1000, 1.0)])]
    assert post(server, "reqfaults", encode_series(baseline)).status_code == 204

    later = [({"__name__": "base", "job": "x"}, [(t, 2.0)]), ({"__name__": "other"}, [(t, 3.0)])]
    cases = [
        ("bad snappy", b"\x40\xff\xfe not snappy at all", HEADERS, 400, "snappy"),
        ("bad protobuf", bytes(cramjam.snappy.compress_raw(b"\x0a\xff\xff\xff\xff\x0f garbage")), HEADERS, 400,
         "proto"),
        ("oversized", bytes(cramjam.snappy.compress_raw(bytes(range(256)) * 2000)), HEADERS, 413,
         "err-mimir-distributor-max-write-message-size"),
        ("remote write 2.0", encode_series(later),
         {**HEADERS, "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request"}, 415,
         "not supported"),
        ("bad compression", encode_series(later), {**HEADERS, "Content-Encoding": "gzip"}, 415, "compression"),
    ]
    for name, body, headers, status, text in cases:
        r = post(server, "reqfaults", body, headers)
        assert r.status_code == status, (name, r.status_code, r.text)
        assert text in r.text, (name, r.text)
    rows, n = stored_rows(server, "reqfaults")
    assert rows == expected_rows(baseline) and n == 1


def test_oversized_decompressed_body_is_413(server):
    raw = write_request([({"__name__": "big", "l": "x" * 1000}, [(now_ms(), float(i))]) for i in range(100)])
    body = encode(raw)  # compresses well below the limit, inflates above it
    assert len(body) < 64 * 1024 < len(raw.SerializeToString())
    r = post(server, "inflate", body)
    assert r.status_code == 413, r.text


@pytest.mark.parametrize("tenant,status,message", [
    ("a/b", 400, "tenant ID 'a/b' contains unsupported character '/'"),
    ("..", 400, "tenant ID is '.' or '..'"),
    ("x" * 151, 400, "tenant ID is too long: max 150 characters"),
    ("a*", 400, "unsupported character '*'"),
])
def test_bad_tenant_ids(server, tenant, status, message):
    r = post(server, tenant, encode_series([({"__name__": "m"}, [(now_ms(), 1.0)])]))
    assert r.status_code == status
    assert message in r.text


def test_without_header_the_tenant_is_anonymous(server):
    with server.client(None) as c:
        r = c.post("/api/v1/write", content=encode_series([({"__name__": "anon"}, [(now_ms(), 1.0)])]),
                   headers=HEADERS)
    assert r.status_code == 204
    rows, _ = stored_rows(server, "anonymous")
    assert any(dict(r[0])["__name__"] == "anon" for r in rows)


def test_missing_tenant_is_401_with_multitenancy(tmp_path):
    p = MytsdbProcess(tmp_path, {"multitenancy_enabled": True}).start()
    try:
        with p.client(None) as c:
            r = c.post("/api/v1/push", content=encode_series([({"__name__": "m"}, [(now_ms(), 1.0)])]),
                       headers=HEADERS)
        assert r.status_code == 401
        assert "no org id" in r.text
    finally:
        p.kill()


def test_rate_limit_is_429_and_stores_nothing(server):
    t = now_ms()
    first = [({"__name__": "rl", "i": str(i)}, [(t, 1.0)]) for i in range(60)]
    assert post(server, "limited", encode_series(first)).status_code == 204
    second = [({"__name__": "rl", "i": str(i)}, [(t + 1, 2.0)]) for i in range(60)]
    r = post(server, "limited", encode_series(second))
    assert r.status_code == 429
    assert "err-mimir-tenant-max-ingestion-rate" in r.text
    assert "set to 10 items/s with a maximum allowed burst of 100" in r.text
    rows, n = stored_rows(server, "limited")
    assert rows == expected_rows(first) and n == 60


SERIES_FAULTS = [
    ({"__name__": "bad-metric"}, "received a series with invalid metric name: 'bad-metric' (err-mimir-metric-name-invalid)"),
    ({"__name__": "m", "bad-label": "v"}, "err-mimir-label-invalid"),
    ({"job": "no name"}, "received series has no metric name (err-mimir-missing-metric-name)"),
    ({"__name__": "m", **{f"l{i:02d}": "v" for i in range(30)}}, "err-mimir-max-label-names-per-series"),
    ({"__name__": "m", "n" * 1025: "v"}, "err-mimir-label-name-too-long"),
    ({"__name__": "m", "long": "v" * 2049}, "err-mimir-label-value-too-long"),
]


@pytest.mark.parametrize("labels,message", SERIES_FAULTS)
def test_per_series_faults_reject_only_that_series(server, labels, message):
    tenant = f"series-fault-{abs(hash(message)) % 10**8}"
    t = now_ms()
    good = [({"__name__": "good_total", "job": "ok"}, [(t - 2000, 1.0), (t - 1000, 2.0)]),
            ({"__name__": "good_gauge"}, [(t - 1000, 0.5)])]
    r = post(server, tenant, encode_series(good[:1] + [(labels, [(t - 1000, 9.0)])] + good[1:]))
    assert r.status_code == 400
    assert message in r.text
    rows, n = stored_rows(server, tenant)
    assert rows == expected_rows(good) and n == 3


def test_duplicate_label_names_are_rejected(server):
    req = write_request([({"__name__": "ok"}, [(now_ms(), 1.0)])])
    ts = req.timeseries.add()
    for name, value in (("__name__", "dup"), ("a", "1"), ("a", "2")):
        ts.labels.add(name=name, value=value)
    ts.samples.add(timestamp=now_ms(), value=1.0)
    r = post(server, "dups", encode(req))
    assert r.status_code == 400
    assert "received a series with duplicate label name, label: 'a'" in r.text
    assert "(err-mimir-duplicate-label-names)" in r.text
    rows, _ = stored_rows(server, "dups")
    assert {dict(row[0])["__name__"] for row in rows} == {"ok"}


def test_sample_faults(server):
    t = now_ms()
    s = {"__name__": "samples_total", "job": "j"}
    assert post(server, "samplefaults", encode_series([(s, [(t - 60_000, 1.0), (t - 30_000, 2.0)])])).status_code == 204

    # Too far in the future (creation_grace_period 10m); the other sample of the request is kept.
    r = post(server, "samplefaults", encode_series([(s, [(t - 20_000, 3.0), (t + 11 * 60_000, 4.0)])]))
    assert r.status_code == 400
    assert "received a sample whose timestamp is too far in the future (err-mimir-too-far-in-future)" in r.text
    assert 'is from series {__name__="samples_total", job="j"}' in r.text

    r = post(server, "samplefaults", encode_series([(s, [(t - 25_000, 5.0)])]))
    assert r.status_code == 400 and "err-mimir-sample-out-of-order" in r.text

    r = post(server, "samplefaults", encode_series([(s, [(t - 20_000, 6.0)])]))
    assert r.status_code == 400 and "err-mimir-sample-duplicate-timestamp" in r.text

    # An identical resend of the whole earlier batch (a client retry) is silently accepted.
    r = post(server, "samplefaults", encode_series([(s, [(t - 60_000, 1.0), (t - 30_000, 2.0)])]))
    assert r.status_code == 204, r.text

    # Older than the head accepts: more than 1h behind the tenant's newest sample.
    r = post(server, "samplefaults", encode_series([({"__name__": "new_series"}, [(t - 2 * 3600_000, 1.0)])]))
    assert r.status_code == 400 and "(err-mimir-sample-timestamp-too-old)" in r.text

    rows, n = stored_rows(server, "samplefaults")
    assert rows == expected_rows([(s, [(t - 60_000, 1.0), (t - 30_000, 2.0), (t - 20_000, 3.0)])])
    assert n == 3


def test_nan_and_stale_markers_are_stored_bit_exactly(server):
    from tests.support import STALE_NAN
    t = now_ms()
    series = [({"__name__": "nan_metric"}, [(t - 3000, float("nan")), (t - 2000, STALE_NAN), (t - 1000, -0.0)])]
    assert post(server, "nans", encode_series(series)).status_code == 204
    rows, _ = stored_rows(server, "nans")
    assert rows == expected_rows(series)
