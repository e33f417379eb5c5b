"""The write path against a real S3 server (SeaweedFS): flush, manifest, crash recovery."""
from __future__ import annotations

import dataclasses
import io
import uuid

import orjson
import pyarrow.parquet as pq
import pytest

from tests.support import batches, expected_rows, make_series, rows_from_table
from tsdb.remote_write.encode import encode_series
from tsdb.storage.bucket import open_bucket

pytestmark = pytest.mark.s3
HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}


def test_round_trip_and_crash_on_s3(s3_server, mytsdb_factory):
    storage = s3_server.storage_config(prefix=f"e2e-{uuid.uuid4().hex[:8]}")
    config = {"storage": {"backend": "s3", "s3": dataclasses.asdict(storage.s3)},
              "limits": {"out_of_order_time_window": "100y", "ingestion_rate": 1e9,
                         "ingestion_burst_size": 1_000_000_000}}
    server = mytsdb_factory(config=config).start()
    series = make_series(n_instances=2, n_points=100, seed=11)
    half = list(batches(series, 300))
    with server.client("s3tenant") as c, server.client("s3tenantb") as cb:
        for chunk in half[: len(half) // 2]:
            assert c.post("/api/v1/push", content=encode_series(chunk), headers=HEADERS).status_code == 204
        server.flush()
        for chunk in half[len(half) // 2:]:
            assert c.post("/api/v1/push", content=encode_series(chunk), headers=HEADERS).status_code == 204
        assert cb.post("/api/v1/push", content=encode_series(series[:1]), headers=HEADERS).status_code == 204
    server.kill()  # the second half is only in the WAL
    server.start()
    server.flush()

    bucket = open_bucket(storage)
    objects = [o.path for o in bucket.list("")]
    assert objects and all(p.startswith(("s3tenant/", "s3tenantb/")) for p in objects)
    manifests = sorted(p for p in objects if p.startswith("s3tenant/manifest/"))
    manifest = orjson.loads(bucket.get(manifests[-1]))
    assert len(manifest["files"]) == 2 and manifest["version"] == 2
    tables = [pq.read_table(io.BytesIO(bucket.get(f["path"]))) for f in manifest["files"]]
    rows = set().union(*(rows_from_table(t) for t in tables))
    assert rows == expected_rows(series)
    assert sum(t.num_rows for t in tables) == len(rows)
    # `s3tenant` never sees `s3tenantb`'s objects.
    assert not [o for o in bucket.list("s3tenant/") if o.path.startswith("s3tenantb/")]
