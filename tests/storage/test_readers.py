"""Engines with their own I/O (DataFusion, pyarrow, DuckDB) read what the Bucket wrote."""

from __future__ import annotations

import io

import datafusion
import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from tsdb.storage import Bucket, StorageConfig, open_bucket

TABLE = pa.table({"ts": pa.array([1, 2, 3], pa.int64()), "value": [0.5, 1.5, 2.0]})


def _write_parquet(bucket: Bucket, path: str) -> None:
    buf = io.BytesIO()
    pq.write_table(TABLE, buf)
    bucket.put(path, buf.getvalue())


def test_datafusion_reads_bucket_parquet(remote_bucket: Bucket) -> None:
    _write_parquet(remote_bucket, "tenant/blocks/b1.parquet")
    _write_parquet(remote_bucket, "tenant/blocks/b2.parquet")
    ctx = datafusion.SessionContext()
    url_root, store = remote_bucket.datafusion_store()
    ctx.register_object_store(url_root, store)
    ctx.register_parquet("one", remote_bucket.url("tenant/blocks/b1.parquet"))
    ctx.register_parquet("dir", remote_bucket.url("tenant/blocks/"))
    assert ctx.sql("select sum(value) as v from one").to_pydict() == {"v": [4.0]}
    assert ctx.sql("select count(*) as n from dir").to_pydict() == {"n": [6]}


def test_pyarrow_reads_bucket_parquet(remote_bucket: Bucket) -> None:
    _write_parquet(remote_bucket, "tenant/blocks/b1.parquet")
    fs, base = remote_bucket.pyarrow_filesystem()
    assert pq.read_table(f"{base}/tenant/blocks/b1.parquet", filesystem=fs).equals(TABLE)


def test_duckdb_reads_via_pyarrow_dataset(remote_bucket: Bucket) -> None:
    _write_parquet(remote_bucket, "tenant/blocks/b1.parquet")
    fs, base = remote_bucket.pyarrow_filesystem()
    blocks = ds.dataset(f"{base}/tenant/blocks", filesystem=fs, format="parquet")
    con = duckdb.connect()
    con.register("blocks", blocks)
    assert con.execute("select max(ts) from blocks").fetchone() == (3,)


def test_memory_backend_has_no_external_readers() -> None:
    bucket = open_bucket(StorageConfig(backend="memory"))
    for helper in (bucket.datafusion_store, bucket.pyarrow_filesystem, bucket.url):
        with pytest.raises(NotImplementedError, match="memory"):
            helper()
