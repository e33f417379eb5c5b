"""The SQL contract on DataFusion, for one tenant: `samples` and `series` over the manifest's
raw files plus the data not yet in it (heads, files being committed).

Each file is registered as a table of its own and the views join them with `UNION ALL`:
DataFusion takes one path or glob per table, and only an exact file list never double
counts during a compaction (DESIGN §9). Files that overlap no other file are read as they
are; overlapping files and the recent data go through the duplicate rule (one row per
`series_id, timestamp`, the highest write sequence winning; recent data counts as newest).
The context holds nothing else: no other tenant's table, no object store beyond the
bucket, so the SQL run on it can only reach this tenant's data (`tsdb.sql.guard` refuses
the statements that could reach files).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
from datafusion import SessionConfig, SessionContext

from promql.engine.source import SeriesSet
from tsdb.analytics.contract import FileSets, file_sets, label_columns
from tsdb.labelsets import label_values
from tsdb.layout.columns import LABELS, LABELS_TYPE, METRIC, METRIC_NAME_LABEL, SERIES_ID, TIMESTAMP, \
    TIMESTAMP_TYPE, VALUE, label_from_column_name
from tsdb.manifest import FileEntry, Manifest
from tsdb.storage.config import StorageConfig
from tsdb.storage.readers import datafusion_store, object_url

CATALOG, SCHEMA = "mytsdb", "public"
TABLES = ("samples", "series")
_STALE_BITS = np.uint64(0x7FF0000000000002)
EMPTY_SERIES = pa.schema([(SERIES_ID, pa.uint64()), (METRIC, pa.string()), (LABELS, LABELS_TYPE),
                          ("min_time", TIMESTAMP_TYPE), ("max_time", TIMESTAMP_TYPE),
                          ("samples", pa.int64())]).empty_table()


@dataclass(frozen=True)
class TenantData:
    """What a tenant's SQL reads: its manifest, and the samples not in it yet."""

    manifest: Manifest
    recent: SeriesSet


def session(storage: StorageConfig, data: TenantData, file_schema: Callable[[FileEntry], pa.Schema],
            functions: Sequence[Any] = ()) -> SessionContext:
    """A fresh context with this tenant's `samples` and `series`, `functions` (table
    functions bound to the tenant, e.g. `promql`) and nothing else."""
    ctx = SessionContext(SessionConfig().with_default_catalog_and_schema(CATALOG, SCHEMA)
                         .with_information_schema(False))
    for function in functions:
        ctx.register_udtf(function)
    if storage.backend != "filesystem":
        root, store = datafusion_store(storage)
        ctx.register_object_store(root, store)
    sets = _with_recent(file_sets(data.manifest), data.recent)
    names: dict[str, list[str]] = {}
    for i, e in enumerate(sets.alone + sets.overlapping):
        # The schema from the footer cache (no request), without the writer's key-value
        # metadata: files sorted by different labels carry different metadata, and
        # DataFusion refuses to union inputs whose schemas differ in it.
        schema = file_schema(e).remove_metadata()
        ctx.register_parquet(f"_f{i}", object_url(storage, e.path), schema=schema)
        names[e.path] = schema.names
    columns = label_columns(sorted({c for cols in names.values() for c in cols}))
    recent = recent_table(data.recent, columns)
    if recent.num_rows:
        ctx.register_record_batches("_recent", [recent.to_batches()])
    if not names and not recent.num_rows:  # nothing stored yet: empty tables of the contract's shape
        ctx.register_dataset("samples", ds.dataset(recent))
        ctx.register_dataset("series", ds.dataset(EMPTY_SERIES))
        return ctx
    ctx.sql(f"CREATE VIEW samples AS {samples_sql(sets, names, columns, recent.num_rows > 0)}")
    for i, e in enumerate(sets.alone):
        ctx.register_parquet(f"_s{i}", object_url(storage, e.series_path), skip_metadata=False)
    ctx.sql(f"CREATE VIEW series AS {series_sql(sets, columns, recent.num_rows > 0, names)}")
    return ctx


def _with_recent(sets: FileSets, recent: SeriesSet) -> FileSets:
    """Files that overlap the recent data in time need the duplicate rule against it."""
    if len(recent.timestamps) == 0:
        return sets
    lo, hi = int(recent.timestamps.min()), int(recent.timestamps.max())
    touching = tuple(e for e in sets.alone if e.max_time >= lo and e.min_time <= hi)
    return FileSets(tuple(e for e in sets.alone if e not in touching), sets.overlapping + touching)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _file_select(table: str, have: list[str], columns: list[str], seq: int | None) -> str:
    labels = [_ident(c) if c in have else f"CAST(NULL AS VARCHAR) AS {_ident(c)}" for c in columns]
    cols = [METRIC, *labels, LABELS, SERIES_ID, _ident(TIMESTAMP), VALUE]
    if seq is not None:
        cols.append(f"CAST({seq} AS BIGINT) AS _seq")
    return f"SELECT {', '.join(cols)} FROM {table}"


def _dedup_sql(sets: FileSets, names: dict[str, list[str]], columns: list[str], recent: bool) -> str | None:
    base = len(sets.alone)
    parts = [_file_select(f"_f{base + i}", names[e.path], columns, e.seq) for i, e in enumerate(sets.overlapping)]
    if recent:
        newest = max((e.seq for e in sets.overlapping), default=0) + 1
        parts.append(_file_select("_recent", columns, columns, newest))
    if not parts:
        return None
    cols = ", ".join([METRIC, *map(_ident, columns), LABELS, SERIES_ID, _ident(TIMESTAMP), VALUE])
    return (f"SELECT {cols} FROM (SELECT *, row_number() OVER (PARTITION BY {SERIES_ID}, {_ident(TIMESTAMP)} "
            f"ORDER BY _seq DESC) AS _rn FROM ({' UNION ALL '.join(parts)})) WHERE _rn = 1")


def samples_sql(sets: FileSets, names: dict[str, list[str]], columns: list[str], recent: bool) -> str:
    parts = [_file_select(f"_f{i}", names[e.path], columns, None) for i, e in enumerate(sets.alone)]
    dedup = _dedup_sql(sets, names, columns, recent)
    if dedup is not None:
        parts.append(dedup)
    return " UNION ALL ".join(parts)


def series_sql(sets: FileSets, columns: list[str], recent: bool, names: dict[str, list[str]]) -> str:
    """From the sidecars of files read as they are; counted from the deduplicated samples
    of overlapping files and recent data (a sidecar would count every copy)."""
    parts = [f"SELECT {SERIES_ID}, {METRIC}, {LABELS}, min_time, max_time, samples FROM _s{i}"
             for i in range(len(sets.alone))]
    dedup = _dedup_sql(sets, names, columns, recent)
    if dedup is not None:
        parts.append(f"SELECT {SERIES_ID}, first_value({METRIC}) AS {METRIC}, first_value({LABELS}) AS {LABELS}, "
                     f"min({_ident(TIMESTAMP)}) AS min_time, max({_ident(TIMESTAMP)}) AS max_time, "
                     f"count(*) AS samples FROM ({dedup}) GROUP BY {SERIES_ID}")
    return (f"SELECT {SERIES_ID}, first_value({METRIC}) AS {METRIC}, first_value({LABELS}) AS {LABELS}, "
            f"min(min_time) AS min_time, max(max_time) AS max_time, CAST(sum(samples) AS BIGINT) AS samples "
            f"FROM ({' UNION ALL '.join(parts)}) GROUP BY {SERIES_ID}")


def recent_table(ss: SeriesSet, columns: list[str]) -> pa.Table:
    """`ss` (heads and files not yet in the manifest) in the samples' columns; stale markers
    are not samples."""
    keep = np.asarray(ss.values, np.float64).view(np.uint64) != _STALE_BITS
    series = np.repeat(np.arange(ss.n_series), np.diff(ss.offsets))[keep]
    labels = pa.array([sorted(d.items()) for d in ss.labels], LABELS_TYPE)
    take = pa.array(series, pa.int64())
    arrays: dict[str, Any] = {METRIC: label_values(labels, METRIC_NAME_LABEL).take(take)}
    for c in columns:
        arrays[c] = label_values(labels, label_from_column_name(c) or c).take(take)
    ids = ss.series_ids if ss.series_ids is not None else np.zeros(ss.n_series, np.uint64)
    arrays[LABELS] = labels.take(take)
    arrays[SERIES_ID] = pa.array(ids[series], pa.uint64())
    arrays[TIMESTAMP] = pa.array(ss.timestamps[keep]).cast(TIMESTAMP_TYPE)
    arrays[VALUE] = pa.array(ss.values[keep], pa.float64())
    return pa.table(arrays)
