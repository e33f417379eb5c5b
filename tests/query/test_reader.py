"""Ranged reads through the Bucket (the path S3, GCS, Azure and memory take)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests.query.conftest import as_rows, expected, matchers, push
from tests.support import BASE_TS, make_series
from tsdb.manifest import FileEntry
from tsdb.query import StorageSource
from tsdb.query.layout import LayoutCache
from tsdb.query.reader import ParquetReader, RangedFile, ReadStats
from tsdb.storage import StorageConfig, open_bucket
from tsdb.tenancy import Tenant


def _file(bucket, rows: int = 1000, row_group_rows: int = 100) -> FileEntry:
    import io

    table = pa.table({"series_id": pa.array(np.arange(rows, dtype=np.uint64)),
                      "timestamp": pa.array(np.arange(rows), pa.timestamp("ms", tz="UTC")),
                      "value": pa.array(np.arange(rows) * 0.5)})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=row_group_rows)
    data = sink.getvalue()
    bucket.put("t/data/2023-11-14/f.parquet", data)
    return FileEntry("t/data/2023-11-14/f.parquet", "", "2023-11-14", 0, 0, rows - 1, rows, rows, len(data), 1, 1)


def test_ranged_reads_fetch_only_the_planned_chunks():
    bucket = open_bucket(StorageConfig(backend="memory"))
    entry = _file(bucket)
    reader = ParquetReader(bucket, LayoutCache())
    stats = ReadStats()
    layout = reader.layout(entry, stats)
    assert stats.requests == 1 and layout.num_row_groups == 10
    stats = ReadStats()
    table = reader.read(entry, layout, np.array([2, 3, 7]), stats)
    assert table.column("series_id").to_pylist() == list(range(200, 400)) + list(range(700, 800))
    assert stats.requests == 1 and stats.bytes_fetched < entry.bytes / 2
    assert reader.layout(entry) is layout  # cached


def test_unplanned_reads_are_fetched_on_demand():
    bucket = open_bucket(StorageConfig(backend="memory"))
    entry = _file(bucket)
    layout = ParquetReader(bucket).layout(entry)
    stats = ReadStats()
    source = RangedFile.prefetch(bucket, entry.path, entry.bytes, layout, [0], stats)
    with pq.ParquetFile(pa.PythonFile(source, mode="r"), metadata=layout.metadata) as pf:
        got = pf.read_row_groups([0, 5], columns=["value"])
    assert got.column("value").to_pylist() == [i * 0.5 for i in list(range(100)) + list(range(500, 600))]
    assert stats.requests > 1


def test_memory_backend_select(make_services):
    services = make_services(storage={"backend": "memory"})
    tenant = Tenant("mem")
    series = make_series(n_instances=2, n_points=30)
    push(services, tenant, series)
    services.ingester.flush(tenant)
    end = BASE_TS + 29 * 15_000
    got = StorageSource(services, tenant).select(matchers('{job="api"}'), BASE_TS, end)
    assert as_rows(got) == expected(series, '{job="api"}', BASE_TS, end)


def test_ranged_file_reads_across_chunks_and_gaps():
    bucket = open_bucket(StorageConfig(backend="memory"))
    data = bytes(range(256)) * 4
    bucket.put("t/x.bin", data)
    stats = ReadStats()
    f = RangedFile(bucket, "t/x.bin", len(data), [10, 30], [data[10:20], data[30:40]], stats)
    for lo, hi in [(12, 18), (5, 45), (0, 1024), (35, 40), (1000, 2000)]:
        f.seek(lo)
        assert f.read(hi - lo) == data[lo:min(hi, len(data))], (lo, hi)
    assert stats.requests == 3  # (5,45), (0,1024) and (1000,…) needed bytes outside the chunks
