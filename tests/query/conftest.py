"""In-process `Services` on a tmp dir, and an oracle for what a selector must return."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from promql import parse_series_selector
from promql.engine.source import SeriesSet
from tests.support import bits
from tsdb.config import config_from_dict
from tsdb.remote_write.encode import encode_series
from tsdb.services import Services
from tsdb.tenancy import Tenant

Rows = dict[tuple, list[tuple[int, int]]]


def service_config(data_dir: Path, **sections: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "data_dir": str(data_dir),
        "ingester": {"wal_fsync": "never", "flush_check_period": "1h"},
        "limits": {"out_of_order_time_window": "100y", "ingestion_rate": 1e9, "ingestion_burst_size": 10**9},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return raw


@pytest.fixture
def make_services(tmp_path: Path) -> Iterator[Callable[..., Services]]:
    started: list[Services] = []

    def make(**sections: Any) -> Services:
        services = Services.build(config_from_dict(service_config(tmp_path, **sections)))
        services.start()
        started.append(services)
        return services

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    return make_services()


def push(services: Services, tenant: Tenant, series) -> None:
    outcome = services.distributor.push(tenant, encode_series(series))
    assert outcome.status == 204, outcome


def as_rows(result: SeriesSet) -> Rows:
    """{sorted label tuple: [(ts, value bits)]}, checking the SeriesSet's invariants."""
    assert result.offsets[0] == 0 and result.offsets[-1] == len(result.timestamps) == len(result.values)
    assert result.timestamps.dtype == np.int64 and result.values.dtype == np.float64
    out: Rows = {}
    vbits = result.values.view(np.uint64)
    for i, labels in enumerate(result.labels):
        lo, hi = result.offsets[i], result.offsets[i + 1]
        ts = result.timestamps[lo:hi]
        assert hi > lo and np.all(np.diff(ts) > 0), "series must be non-empty and strictly increasing"
        key = tuple(sorted(labels.items()))
        assert key not in out, "one entry per series"
        out[key] = list(zip(ts.tolist(), vbits[lo:hi].tolist()))
    return out


def expected(series, selector: str, start: int, end: int) -> Rows:
    """The oracle: per series (Python per series is fine in a test), last write wins."""
    matchers = parse_series_selector(selector).matchers
    out: Rows = {}
    for labels, samples in series:
        if all(m.matches(labels.get(m.name, "")) for m in matchers):
            key = tuple(sorted(labels.items()))
            merged = dict(out.get(key, []))
            merged.update({t: bits(v) for t, v in samples if start <= t <= end})
            if merged:
                out[key] = sorted(merged.items())
    return out


def matchers(selector: str):
    return parse_series_selector(selector).matchers


def commit_file(services: Services, tenant: Tenant, series_ids, labels, timestamps, values,
                row_group_rows: int = 128 * 1024, sidecar_edit=None):
    """Write one data file (plus sidecar) with the real writer and commit it as the next
    manifest version, as a flush would; `sidecar_edit(table) -> table` alters the
    sidecar (to test files whose sidecar does not describe the rows)."""
    import io
    from dataclasses import replace

    import pyarrow as pa
    import pyarrow.parquet as pq

    from tsdb.head import SAMPLES_SCHEMA, SERIES_SCHEMA
    from tsdb.layout.columns import SCHEMA_VERSION
    from tsdb.layout.paths import data_file_path, day_of, new_file_name, series_file_path
    from tsdb.layout.writer import MS_PER_DAY, WriterOptions, build_files
    from tsdb.manifest import FileEntry

    samples = pa.table([pa.array(series_ids, pa.uint64()), pa.array(timestamps, pa.int64()),
                        pa.array(values, pa.float64())], schema=SAMPLES_SCHEMA)
    ids = sorted(set(int(s) for s in series_ids))
    series = pa.table([pa.array(ids, pa.uint64()), pa.array([labels[i] for i in ids], SERIES_SCHEMA.field(1).type)],
                      schema=SERIES_SCHEMA)
    staged = []
    for f in build_files(samples, series, WriterOptions(row_group_rows=row_group_rows)):
        day, name = day_of(f.day_index * MS_PER_DAY), new_file_name(level=0)
        data_path, side_path = data_file_path(tenant, day, name), series_file_path(tenant, day, name)
        sidecar = f.sidecar
        if sidecar_edit is not None:
            sink = io.BytesIO()
            pq.write_table(sidecar_edit(pq.read_table(io.BytesIO(sidecar))), sink)
            sidecar = sink.getvalue()
        services.bucket.put(side_path, sidecar)
        services.bucket.put(data_path, f.data)
        staged.append(FileEntry(data_path, side_path, day, 0, f.min_time, f.max_time, f.rows, f.series,
                                len(f.data), 0, SCHEMA_VERSION, "test"))
    manifest = services.manifests.commit(
        tenant, lambda cur, v: replace(cur, files=cur.files + tuple(replace(e, seq=v) for e in staged)))
    return [replace(e, seq=manifest.version) for e in staged]


def head_series_ids(services: Services, tenant: Tenant) -> dict[tuple, int]:
    """{sorted label tuple: series_id} as the ingester hashed them."""
    snap = services.ingester.snapshot(tenant)
    return {tuple(sorted(l)): int(i) for i, l in zip(snap.series.column("series_id").to_pylist(),
                                                      snap.series.column("labels").to_pylist())}
