"""Compaction end to end on RF=3 copies: three in-process ingesters flushed the differential
data into one bucket (three L0 copies of every sample), a real `all`-mode server answers
PromQL over it, and every answer is the same after L1 and after L2 compaction, while the
bucket ends up with one copy of each sample, sorted, in the configured row groups."""
from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.compactor.conftest import ROW_GROUP_ROWS, TENANT, compactor_config
from tests.differential import data
from tsdb.compactor import L0, L1, L2, Compactor
from tsdb.layout.columns import SERIES_ID, TIMESTAMP
from tsdb.manifest import ManifestStore
from tsdb.remote_write.encode import encode_series
from tsdb.services import Services
from tsdb.storage.bucket import open_bucket
from tsdb.tenancy import Tenant

pytestmark = pytest.mark.slow
HOUR = 3_600_000


def check_sorted_file(path: str, sort_labels_expected: bool = True) -> None:
    pf = pq.ParquetFile(path)
    md = pf.metadata
    sizes = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
    assert all(s == ROW_GROUP_ROWS for s in sizes[:-1]) and 0 < sizes[-1] <= ROW_GROUP_ROWS, sizes
    sorting = md.row_group(0).sorting_columns
    assert sorting and all(not c.descending for c in sorting)
    schema = pf.schema_arrow
    t = pf.read()
    keys, _ = pq.SortingColumn.to_ordering(schema, sorting)  # leaf column indexes back to names
    names = [name for name, order in keys]
    assert names[0] == "metric" and names[-2:] == [SERIES_ID, TIMESTAMP], names
    # Rows are in (metric, sort labels, series_id, timestamp) order, one per (series, timestamp).
    keys = [t.column(n).to_pylist() if n != TIMESTAMP else t.column(n).cast("int64").to_pylist() for n in names]
    rows = list(zip(*keys))
    assert all(a < b for a, b in zip(rows, rows[1:]))
    assert md.row_group(0).column(schema.names.index(TIMESTAMP)).statistics is not None
    assert pf.metadata.metadata[b"mytsdb.sort_labels"] is not None


def test_rf3_copies_compact_to_one_copy_with_identical_answers(replicated, tmp_path):
    replicated.restore()
    bucket_dir, root = replicated.bucket_dir, tmp_path
    bucket = open_bucket(compactor_config(bucket_dir, root / "c").storage)
    manifests = ManifestStore(bucket)
    before = manifests.load(TENANT)
    assert {e.level for e in before.files} == {L0} and len(before.files) >= 6
    rows_before = sum(e.rows for e in before.files)
    want = replicated.unique
    assert rows_before >= 3 * want  # three copies of every sample

    # The day is still open (5h into it): L0 → one L1 file per 2h block.
    open_day = data.T0 + 5 * HOUR
    c1 = Compactor(compactor_config(bucket_dir, root / "c1"), bucket, clock=lambda: open_day / 1000)
    s1 = c1.run_once()
    # (The data starts 3 ms before midnight: that sliver of 2023-12-31, a closed day, goes to L2.)
    assert s1.failed == 0 and s1.jobs == 2
    after_l1 = manifests.load(TENANT)
    assert sorted((e.day, e.level) for e in after_l1.files) == [
        ("2023-12-31", L2), ("2024-01-01", L1), ("2024-01-01", L1)]  # L1: 0-2h, 2-3h
    spans = sorted((e.min_time, e.max_time) for e in after_l1.files if e.level == L1)
    assert spans[0][1] < data.T0 + 2 * HOUR <= spans[1][0]  # L1 files never overlap
    assert sum(e.rows for e in after_l1.files) == want == s1.rows_written
    assert s1.rows_read == rows_before and s1.duplicates_removed == rows_before - want
    # Replaced files are marked and kept for `deletion_delay`: queries on older manifests still read them.
    assert len(bucket.list(f"{TENANT.id}/deletion-marks/")) == len(before.files)
    assert all(bucket.exists(e.path) and bucket.exists(e.series_path) for e in before.files)
    replicated.assert_same_answers()

    # Two days later the day is closed: L1 → one L2 file.
    closed = data.T0 + 50 * HOUR
    c2 = Compactor(compactor_config(bucket_dir, root / "c2"), bucket, clock=lambda: closed / 1000)
    s2 = c2.run_once()
    assert s2.failed == 0 and s2.jobs == 1
    after_l2 = manifests.load(TENANT)
    assert sorted((e.day, e.level) for e in after_l2.files) == [("2023-12-31", L2), ("2024-01-01", L2)]
    l2 = next(e for e in after_l2.files if e.day == "2024-01-01")
    assert sum(e.rows for e in after_l2.files) == want
    assert l2.seq == max(e.seq for e in after_l1.files if e.level == L1)
    check_sorted_file(f"{bucket_dir}/{l2.path}")
    replicated.assert_same_answers()
    assert c2.run_once().jobs == 0  # nothing left to do

    # Two days on, the L0 files' delay is over: deleted. The L1 files are marked now.
    assert s2.files_deleted == len(before.files)
    assert not any(bucket.exists(e.path) or bucket.exists(e.series_path) for e in before.files)
    l1 = [e for e in after_l1.files if e.level == L1]
    assert len(bucket.list(f"{TENANT.id}/deletion-marks/")) == len(l1)
    later = Compactor(compactor_config(bucket_dir, root / "c3"), bucket, clock=lambda: (closed + 2 * 60_000) / 1000)
    assert later.run_once().files_deleted == len(l1)
    assert not any(bucket.exists(e.path) for e in l1)
    assert all(bucket.exists(e.path) for e in after_l2.files) and bucket.list(f"{TENANT.id}/deletion-marks/") == []
    replicated.assert_same_answers()


def test_retention_removes_whole_days(tmp_path):
    bucket_dir = tmp_path / "bucket"
    cfg = compactor_config(bucket_dir, tmp_path / "i")
    services = Services.build(cfg)
    services.start()
    tenant = Tenant("ret")
    day = 86_400_000
    for d in range(3):  # three days of one series
        t0 = data.T0 + d * day
        body = encode_series([({"__name__": "m", "job": "x"}, [(t0 + k * 60_000, float(k)) for k in range(10)])])
        assert services.distributor.push(tenant, body).status == 204
    services.stop()
    bucket = services.bucket
    retention = compactor_config(bucket_dir, tmp_path / "c", overrides={"ret": {"compactor_blocks_retention_period": "2d"}})
    now = data.T0 + 3 * day + HOUR  # day 0 ended 2 d 1 h ago, day 1 1 d 1 h ago, day 2 1 h ago
    c = Compactor(retention, bucket, clock=lambda: now / 1000)
    s = c.run_once([tenant])
    assert s.days_expired == 1  # only a day wholly past the retention period goes
    days = {e.day for e in ManifestStore(bucket).load(tenant).files}
    assert days == {"2024-01-02", "2024-01-03"}
    assert len(bucket.list("ret/deletion-marks/")) == 1 + 2  # the expired day's file; the two compacted L0s'
    later = Compactor(retention, bucket, clock=lambda: (now + day) / 1000)
    assert later.run_once([tenant]).days_expired == 1
    assert {e.day for e in ManifestStore(bucket).load(tenant).files} == {"2024-01-03"}
    other = Compactor(cfg, bucket, clock=lambda: now / 1000)  # retention 0 keeps everything
    assert other.run_once([tenant]).days_expired == 0


def test_tenants_are_found_by_listing_and_never_merged(tmp_path):
    bucket_dir = tmp_path / "bucket"
    cfg = compactor_config(bucket_dir, tmp_path / "i")
    services = Services.build(cfg)
    services.start()
    series = [({"__name__": "same", "job": "x"}, [(data.T0 + k * 60_000, float(k)) for k in range(30)])]
    for name, scale in (("t-a", 1.0), ("t-b", 2.0)):
        body = encode_series([(labels, [(t, v * scale) for t, v in pts]) for labels, pts in series])
        assert services.distributor.push(Tenant(name), body).status == 204
        services.ingester.flush(Tenant(name))
    services.stop()
    c = Compactor(cfg, services.bucket, clock=lambda: (data.T0 + 50 * HOUR) / 1000)
    assert {t.id for t in c.tenants()} == {"t-a", "t-b"}
    assert c.run_once().jobs == 2
    for name, scale in (("t-a", 1.0), ("t-b", 2.0)):
        files = ManifestStore(services.bucket).load(Tenant(name)).files
        assert len(files) == 1 and files[0].path.startswith(f"{name}/")
        t = pq.read_table(f"{bucket_dir}/{files[0].path}")
        assert np.allclose(t.column("value").to_numpy(), np.arange(30) * scale)
