"""DuckDB over a real S3 server (SeaweedFS), offline: the helper's views give PromQL's and the
export's numbers on the same overlapping flushes, read files of several MB correctly with
all of DuckDB's threads, and the README's plain recipe (pyarrow's S3 filesystem under a
DuckDB scan; no `INSTALL httpfs`) works."""
from __future__ import annotations

import dataclasses
import uuid

import duckdb
import numpy as np
import pytest

from tests.analytics.conftest import (END_S, HEADERS, N, START_S, T0, close, duckdb_numbers, expected, grouped, load,
                                      promql_numbers)
from tsdb.analytics import duckdb_connect
from tsdb.client import Client
from tsdb.config import config_from_dict
from tsdb.manifest import ManifestStore
from tsdb.remote_write.encode import encode_series
from tsdb.storage.bucket import open_bucket
from tsdb.tenancy import Tenant

pytestmark = pytest.mark.s3


@pytest.fixture
def s3_mytsdb(s3_server, mytsdb_factory):
    storage = s3_server.storage_config(prefix=f"duck-{uuid.uuid4().hex[:8]}")
    config = {"storage": {"backend": "s3", "s3": dataclasses.asdict(storage.s3)},
              "limits": {"out_of_order_time_window": "100y", "ingestion_rate": 1e9, "ingestion_burst_size": 10**9}}
    return mytsdb_factory(config=config).start(), config


def test_duckdb_on_s3_agrees_with_promql_and_export(s3_mytsdb):
    server, config = s3_mytsdb
    load(server)  # two overlapping flushes: the duplicate rule runs over s3:// file names

    want = expected()
    close(promql_numbers(server.url), want)
    close(grouped(Client(server.url, tenant="an-a").export('{__name__=~"an_.*"}', START_S, END_S).to_arrow()), want)
    con = duckdb_connect("an-a", config_from_dict(config))
    close(duckdb_numbers(con), want)
    assert con.sql("SELECT sum(samples) FROM series").fetchall() == [(6 * N,)]
    other = duckdb_connect("an-b", config_from_dict(config))
    assert other.sql("SELECT count(*), sum(value) FROM samples").fetchall() == [(1, 42.0)]


def test_large_files_read_right_from_every_thread_and_the_plain_recipe(s3_mytsdb):
    """Files of several MB: DuckDB's threads read one handle at once (obstore's adapter as it
    is returned short or misplaced reads there)."""
    server, config = s3_mytsdb
    rng = np.random.default_rng(1)
    n_series, n = 1_000, 1_000
    values = rng.random((n_series, n))
    ts = (T0 + 15_000 * np.arange(n)).tolist()
    with server.client("big") as c:
        for lo in range(0, n_series, 250):
            series = [({"__name__": "big", "k": str(k)}, list(zip(ts, values[k].tolist()))) for k in range(lo, lo + 250)]
            assert c.post("/api/v1/push", content=encode_series(series), headers=HEADERS).status_code == 204
    server.flush()
    storage = config_from_dict(config).storage
    entries = ManifestStore(open_bucket(storage)).load(Tenant("big")).files
    assert sum(e.bytes for e in entries) > 2_000_000

    con = duckdb_connect("big", config_from_dict(config))
    for _ in range(3):
        count, total, per_k = con.sql("SELECT count(*), sum(value), sum(value * k::INT) FROM samples").fetchall()[0]
        assert count == n_series * n
        assert total == pytest.approx(values.sum(), rel=1e-12)
        assert per_k == pytest.approx((values.sum(axis=1) * np.arange(n_series)).sum(), rel=1e-12)

    # The README's plain recipe: no MyTSDB code, pyarrow's S3 filesystem under DuckDB.
    import pyarrow.dataset as ds
    from pyarrow.fs import S3FileSystem

    s3 = storage.s3
    fs = S3FileSystem(access_key=s3.access_key_id, secret_key=s3.secret_access_key, region=s3.region,
                      endpoint_override=s3.endpoint, scheme="http", allow_bucket_creation=False)
    plain = duckdb.connect()
    plain.register("samples", ds.dataset([f"{s3.bucket}/{s3.prefix}/{e.path}" for e in entries], filesystem=fs,
                                         format="parquet"))
    count, total = plain.sql("SELECT count(*), sum(value) FROM samples").fetchall()[0]
    assert count == n_series * n and total == pytest.approx(values.sum(), rel=1e-12)

    # The other recipe: obstore's fsspec adapter made thread-safe by `tsdb.analytics.s3`.
    from tsdb.analytics.s3 import s3_filesystem
    adapted = duckdb.connect()
    adapted.register_filesystem(s3_filesystem(s3))
    files = [f"s3://{s3.bucket}/{s3.prefix}/{e.path}" for e in entries]
    count, total = adapted.sql(f"SELECT count(*), sum(value) FROM read_parquet({files!r}, union_by_name = true)"
                               ).fetchall()[0]
    assert count == n_series * n and total == pytest.approx(values.sum(), rel=1e-12)
