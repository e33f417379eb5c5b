"""DuckDB over a real S3 server (SeaweedFS), offline: the helper's views, and the README's
plain-DuckDB recipe (obstore's fsspec adapter registered in DuckDB; no `INSTALL httpfs`)."""
from __future__ import annotations

import dataclasses
import uuid

import duckdb
import pytest

from tests.analytics.conftest import HEADERS, N, dataset
from tsdb.analytics import duckdb_connect
from tsdb.config import config_from_dict
from tsdb.manifest import ManifestStore
from tsdb.remote_write.encode import encode_series
from tsdb.storage.bucket import open_bucket
from tsdb.tenancy import Tenant

pytestmark = pytest.mark.s3


def test_duckdb_reads_the_tenants_files_on_s3(s3_server, mytsdb_factory):
    storage = s3_server.storage_config(prefix=f"duck-{uuid.uuid4().hex[:8]}")
    config = {"storage": {"backend": "s3", "s3": dataclasses.asdict(storage.s3)},
              "limits": {"out_of_order_time_window": "100y", "ingestion_rate": 1e9, "ingestion_burst_size": 10**9}}
    server = mytsdb_factory(config=config).start()
    with server.client("duck-a") as c, server.client("duck-b") as b:
        assert c.post("/api/v1/push", content=encode_series(dataset()), headers=HEADERS).status_code == 204
        assert b.post("/api/v1/push", content=encode_series(dataset()[:1]), headers=HEADERS).status_code == 204
    server.flush()

    con = duckdb_connect("duck-a", config_from_dict(config))
    assert con.sql("SELECT count(*), count(DISTINCT series_id) FROM samples").fetchall() == [(6 * N, 6)]
    assert con.sql("SELECT sum(samples) FROM series").fetchall() == [(6 * N,)]

    # The README recipe, by hand: plain DuckDB, the thread-safe fsspec adapter, the manifest's files.
    from tsdb.analytics.s3 import s3_filesystem

    s3 = storage.s3
    plain = duckdb.connect()
    plain.register_filesystem(s3_filesystem(s3))
    files = [f"s3://{s3.bucket}/{s3.prefix}/{e.path}"
             for e in ManifestStore(open_bucket(storage)).load(Tenant("duck-a")).files]
    assert plain.sql(f"SELECT count(*) FROM read_parquet({files!r}, union_by_name = true)").fetchall() == [(6 * N,)]
