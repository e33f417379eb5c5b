"""Remote write -> WAL -> head -> flush -> Parquet, read back by DuckDB and polars."""
from __future__ import annotations

import duckdb
import polars as pl
import pyarrow.parquet as pq

from tests.support import batches, expected_rows, make_series, rows_from_table
from tsdb.remote_write.encode import encode_series

HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}


def push(client, series) -> None:
    r = client.post("/api/v1/push", content=encode_series(series), headers=HEADERS)
    assert r.status_code == 204, r.text


def test_round_trip_is_bit_exact_and_tenant_scoped(mytsdb):
    series_a = make_series(seed=1)
    series_ab = make_series(n_instances=1, seed=2)
    with mytsdb.client("a") as a, mytsdb.client("ab") as ab:
        for chunk in batches(series_a, 500):
            push(a, chunk)
        push(ab, series_ab)
    mytsdb.flush()

    bucket = mytsdb.data_dir / "bucket"
    tenants = sorted(p.name for p in bucket.iterdir())
    assert tenants == ["a", "ab"]

    files_a = sorted(str(p) for p in (bucket / "a" / "data").rglob("*.parquet"))
    assert files_a
    got = duckdb.sql(
        f"SELECT labels, timestamp, value FROM read_parquet({files_a!r})").arrow()
    got = got.read_all() if hasattr(got, "read_all") else got
    want = expected_rows(series_a)
    assert got.num_rows == len(want)
    assert rows_from_table(got) == want

    frame = pl.read_parquet(files_a)
    assert frame.height == len(want)
    assert rows_from_table(frame.to_arrow()) == want

    got_ab = pq.read_table(str(bucket / "ab" / "data"))
    assert rows_from_table(got_ab) == expected_rows(series_ab)
    # Tenant `a`'s files hold only its own samples; `ab`'s prefix is a different directory.
    assert not any("/ab/" in f for f in files_a)


def test_natural_sql_over_the_files(mytsdb):
    series = make_series(n_instances=2, n_points=10)
    with mytsdb.client("sqltenant") as c:
        push(c, series)
    mytsdb.flush()
    glob = str(mytsdb.data_dir / "bucket" / "sqltenant" / "data" / "*" / "*.parquet")
    n = duckdb.execute(f"SELECT count(*) FROM read_parquet('{glob}') "
                   "WHERE metric = 'http_requests_total' AND job = 'api' AND instance = '10.0.0.1:9100'").fetchone()[0]
    assert n == 10
    cols = duckdb.execute(f"DESCRIBE SELECT * FROM read_parquet('{glob}')").fetchall()
    types = {c[0]: c[1] for c in cols}
    assert types["timestamp"] == "TIMESTAMP WITH TIME ZONE"
    assert types["value"] == "DOUBLE"
    assert types["series_id"] == "UBIGINT"


def test_parquet_layout_properties(mytsdb):
    with mytsdb.client("layout") as c:
        push(c, make_series(n_instances=4, n_points=60))
    mytsdb.flush()
    files = list((mytsdb.data_dir / "bucket" / "layout" / "data").rglob("*.parquet"))
    assert len(files) == 1
    meta = pq.ParquetFile(files[0]).metadata
    schema = pq.ParquetFile(files[0]).schema_arrow
    names = schema.names
    rg = meta.row_group(0)
    leaf_paths = [meta.schema.column(i).path for i in range(meta.num_columns)]
    sorting = [leaf_paths[c.column_index] for c in rg.sorting_columns]
    assert sorting[0] == "metric" and sorting[-2:] == ["series_id", "timestamp"]
    encodings = {rg.column(i).path_in_schema: rg.column(i).encodings for i in range(rg.num_columns)}
    assert "DELTA_BINARY_PACKED" in encodings["timestamp"]
    assert "BYTE_STREAM_SPLIT" in encodings["value"]
    assert all(rg.column(i).compression == "ZSTD" for i in range(rg.num_columns))
    assert rg.column(names.index("timestamp")).has_offset_index
    # Bloom filters on the metric name: present values pass, absent ones are excluded.
    probe = "SELECT bloom_filter_excludes FROM parquet_bloom_probe(?, 'metric', ?)"
    assert duckdb.execute(probe, [str(files[0]), "up"]).fetchall() == [(False,)]
    assert duckdb.execute(probe, [str(files[0]), "no_such_metric"]).fetchall() == [(True,)]
    # Rows really are in the recorded order.
    t = pq.read_table(files[0], columns=sorting).to_pandas()
    assert t.equals(t.sort_values(sorting, kind="stable", na_position="last").reset_index(drop=True))
    # The series sidecar: one row per series with its sample count and time range.
    sidecar = list((mytsdb.data_dir / "bucket" / "layout" / "series").rglob("*.parquet"))
    side = pq.read_table(sidecar[0]).to_pandas()
    series = make_series(n_instances=4, n_points=60)
    assert len(side) == len(series)
    want = {tuple(sorted(labels.items())): (len(s), s[0][0], s[-1][0]) for labels, s in series}
    for row in side.itertuples():
        got = (row.samples, int(row.min_time.timestamp() * 1000), int(row.max_time.timestamp() * 1000))
        assert got == want[tuple(sorted(row.labels))]


def test_metrics_and_ready(mytsdb):
    with mytsdb.client("m") as c:
        assert c.get("/ready").text == "ready\n"
        push(c, make_series(n_instances=1, n_points=5))
        r = c.post("/api/v1/push", content=b"\x10garbage", headers=HEADERS)
        assert r.status_code == 400
    mytsdb.flush()
    with mytsdb.client() as c:
        text = c.get("/metrics").text
    samples = len(expected_rows(make_series(n_instances=1, n_points=5)))
    assert f'mytsdb_distributor_received_samples_total{{tenant="m"}} {float(samples)}' in text
    assert f'mytsdb_ingester_ingested_samples_total{{tenant="m"}} {float(samples)}' in text
    assert 'mytsdb_distributor_requests_total{status="400"} 1.0' in text
    assert 'mytsdb_ingester_flushes_total{outcome="success"} 1.0' in text
    assert "mytsdb_ingester_wal_fsync_duration_seconds_count" in text
    assert "mytsdb_ingester_flush_duration_seconds_count 1.0" in text


def test_all_mode_ring_page(mytsdb):
    """`all` mode shows its one ingester on Mimir's ring pages, owning the whole ring."""
    with mytsdb.client() as c:
        data = c.get("/ingester/ring", headers={"Accept": "application/json"}).json()
        assert c.get("/ring", headers={"Accept": "application/json"}).json()["shards"] == data["shards"]
        page = c.get("/ingester/ring")
    [shard] = data["shards"]
    assert shard["state"] == "ACTIVE" and shard["healthy"] and shard["tokens"] == 128
    assert abs(shard["ownership"] - 100.0) < 1e-6
    assert page.headers["content-type"].startswith("text/html") and shard["id"] in page.text
