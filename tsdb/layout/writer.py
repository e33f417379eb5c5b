"""Write a head's samples as sorted, day-partitioned Parquet plus series sidecars.

Per DESIGN §3: long format; sorted by metric, a few low-cardinality labels, series_id,
timestamp (recorded as `sorting_columns`); timestamps DELTA_BINARY_PACKED, values
BYTE_STREAM_SPLIT, zstd; page index; bloom filters on the metric name and on the
highest-cardinality promoted label. Duplicates (same series_id and timestamp) are
resolved while sorting: the last write wins, and identical copies count once.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tsdb.labelsets import label_name_counts, label_values
from tsdb.layout.columns import (
    LABELS, LABELS_TYPE, METRIC, METRIC_NAME_LABEL, SCHEMA_VERSION, SERIES_ID, TIMESTAMP,
    TIMESTAMP_TYPE, VALUE, choose_promoted_labels, label_column_name,
)

MS_PER_DAY = 86_400_000
SORT_LABELS = 3


@dataclass(frozen=True)
class WriterOptions:
    row_group_rows: int = 128 * 1024
    zstd_level: int = 3
    max_promoted_labels: int = 64
    # 128 Ki 8-byte values fill the 1 MiB data page Parquet defaults to. pyarrow's own cap of
    # 20,000 rows per page made 160 kB value pages, which zstd compressed worse, with a page
    # index entry per page: 1.81 against 1.62 bytes/sample on a compacted day (bench/compaction.py).
    page_rows: int = 128 * 1024


@dataclass(frozen=True)
class BuiltFile:
    """One day's data file and its sidecar, ready to upload."""

    day_index: int  # days since the epoch
    data: bytes
    sidecar: bytes
    min_time: int
    max_time: int
    rows: int
    series: int


def build_files(samples: pa.Table, series: pa.Table, opts: WriterOptions) -> list[BuiltFile]:
    """`samples`: series_id, timestamp (int64 ms), value in write order. `series`:
    series_id, labels (map) for at least every series in `samples`."""
    if samples.num_rows == 0:
        return []
    series = _unique_series(series)
    sid = samples.column(SERIES_ID).to_numpy()
    ts = samples.column(TIMESTAMP).to_numpy()
    series_ids = series.column(SERIES_ID).to_numpy()
    row_of_sample = np.searchsorted(series_ids, sid)
    if np.any(row_of_sample >= len(series_ids)) or np.any(series_ids[np.minimum(row_of_sample, len(series_ids) - 1)] != sid):
        raise ValueError("head holds samples of a series whose labels it does not know")
    day = ts // MS_PER_DAY
    out = []
    for d in np.unique(day):
        mask = day == d
        out.append(_build_day(int(d), samples.filter(pa.array(mask)), row_of_sample[mask], series, opts))
    return out


def _unique_series(series: pa.Table) -> pa.Table:
    ids = series.column(SERIES_ID).to_numpy()
    uniq, first = np.unique(ids, return_index=True)
    return series.take(pa.array(first))


@dataclass(frozen=True)
class SeriesColumns:
    """A file's series and the per-series values of its label columns, from which rows are
    taken: `metric`, `label_cols` (promoted labels) and `labels` (all, as a map) are
    arrays with one entry per series, `ids` their series IDs."""

    ids: pa.Array
    labels: pa.Array
    metric: pa.Array
    label_cols: dict[str, pa.Array]
    sort_labels: list[str]

    @classmethod
    def of(cls, series: pa.Table, max_promoted_labels: int) -> "SeriesColumns":
        labels = series.column(LABELS).combine_chunks()
        promoted = choose_promoted_labels(label_name_counts(labels), max_promoted_labels)
        label_cols = {name: label_values(labels, name) for name in promoted}
        return cls(series.column(SERIES_ID).combine_chunks(), labels, label_values(labels, METRIC_NAME_LABEL),
                   label_cols, _sort_labels(label_cols))

    def rank(self) -> np.ndarray:
        """Each series' position in file order: metric, sort labels, series_id."""
        table = pa.table({"m": self.metric, **{f"l{i}": self.label_cols[n] for i, n in enumerate(self.sort_labels)},
                          "sid": self.ids})
        keys = [("m", "ascending")] + [(f"l{i}", "ascending") for i in range(len(self.sort_labels))]
        order = pc.sort_indices(table, sort_keys=keys + [("sid", "ascending")]).to_numpy()
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(len(order))
        return rank

    @property
    def sort_columns(self) -> list[str]:
        return [METRIC] + [label_column_name(n) for n in self.sort_labels] + [SERIES_ID, TIMESTAMP]

    @property
    def bloom_columns(self) -> list[str]:
        return [METRIC] + _bloom_labels(self.label_cols)

    def rows(self, take: np.ndarray, ts: np.ndarray, values: pa.Array) -> pa.Table:
        """Rows of a data file: series `take[i]` with sample (`ts[i]`, `values[i]`)."""
        idx = pa.array(take)
        columns: dict[str, pa.Array] = {METRIC: self.metric.take(idx).dictionary_encode()}
        for name, col in self.label_cols.items():
            columns[label_column_name(name)] = col.take(idx).dictionary_encode()
        columns[LABELS] = self.labels.take(idx)
        columns[SERIES_ID] = self.ids.take(idx)
        columns[TIMESTAMP] = pa.array(ts).cast(TIMESTAMP_TYPE)
        columns[VALUE] = values
        return pa.table(columns).replace_schema_metadata({
            "mytsdb.schema_version": str(SCHEMA_VERSION),
            "mytsdb.sort_labels": ",".join(self.sort_labels),
        })


def _build_day(day: int, samples: pa.Table, series_rows: np.ndarray, series: pa.Table, opts: WriterOptions) -> BuiltFile:
    used_rows, sample_series = np.unique(series_rows, return_inverse=True)
    day_series = series.take(pa.array(used_rows))
    cols = SeriesColumns.of(day_series, opts.max_promoted_labels)
    rank = cols.rank()
    # Samples by (series rank, timestamp); the sort is stable, so among copies of one
    # (series, timestamp) the last written is last, and it is the one kept.
    ts = samples.column(TIMESTAMP).to_numpy()
    sample_rank = rank[sample_series]
    sample_order = np.lexsort((ts, sample_rank))
    r, t = sample_rank[sample_order], ts[sample_order]
    sample_order = sample_order[np.r_[(r[1:] != r[:-1]) | (t[1:] != t[:-1]), True]]
    sample_series, ts = sample_series[sample_order], ts[sample_order]
    values = samples.column(VALUE).combine_chunks().take(pa.array(sample_order))

    def row_group(lo: int, hi: int) -> pa.Table:
        """Rows lo..hi of the file; built per row group so a flush never holds a second,
        per-row copy of every column (the `labels` map above all) for the whole day."""
        return cols.rows(sample_series[lo:hi], ts[lo:hi], values.slice(lo, hi - lo))

    data = _write_parquet(row_group, len(ts), cols.sort_columns, bloom=cols.bloom_columns, opts=opts)
    sidecar = sidecar_bytes(sidecar_table(day_series, cols.metric, rank, sample_series, ts), opts.zstd_level)
    return BuiltFile(day, data, sidecar, int(ts.min()), int(ts.max()), len(ts), len(used_rows))


def _sort_labels(label_cols: dict[str, pa.Array]) -> list[str]:
    """Up to SORT_LABELS labels in ascending cardinality (as IOx does), skipping constants."""
    card = {n: pc.count_distinct(a).as_py() for n, a in label_cols.items()}
    ranked = sorted((c, n) for n, c in card.items() if c > 1)
    return [n for _, n in ranked[:SORT_LABELS]]


def _bloom_labels(label_cols: dict[str, pa.Array]) -> list[str]:
    """The highest-cardinality label (often `instance` or `pod`): where a bloom filter
    prunes row groups that min/max statistics cannot."""
    if not label_cols:
        return []
    card = {n: pc.count_distinct(a).as_py() for n, a in label_cols.items()}
    best = max(card, key=lambda n: (card[n], n))
    return [label_column_name(best)] if card[best] > 16 else []


def open_writer(sink, schema: pa.Schema, sort_columns: list[str], bloom: list[str], n_rows: int,
                opts: WriterOptions) -> pq.ParquetWriter:
    """A Parquet writer with the layout's encodings: dictionaries for labels, delta
    timestamps, byte-stream-split values, zstd, page index, `sorting_columns`, bloom
    filters. A bloom filter belongs to one row group, so it is sized for one (or `n_rows`,
    if fewer): the writer holds every row group's filter in memory until it closes the file,
    and sized for the whole file they made a compaction's memory grow with the square of
    the day's size (pyarrow shrinks them to their content when it writes them)."""
    dictionary_columns = [n for n in schema.names if n not in (TIMESTAMP, VALUE)]
    return pq.ParquetWriter(
        sink,
        schema,
        compression="zstd",
        compression_level=opts.zstd_level,
        use_dictionary=dictionary_columns,
        column_encoding={TIMESTAMP: "DELTA_BINARY_PACKED", VALUE: "BYTE_STREAM_SPLIT"},
        write_page_index=True,
        # No min/max for `value`: Parquet leaves NaN out of them (as it must), and DuckDB
        # 2.0 prunes row groups by them as if no NaN were there (`isnan(value)`, `value > x`
        # silently lose rows: duckdb/duckdb#25521). Nothing prunes by value; none for the
        # `labels` map's leaves either (no reader prunes by them).
        write_statistics=[n for n in schema.names if n not in (VALUE, LABELS)],
        # Parquet numbers leaf columns (the `labels` map has two), so let pyarrow map names.
        sorting_columns=pq.SortingColumn.from_ordering(schema, [(c, "ascending") for c in sort_columns]),
        bloom_filter_options={c: {"ndv": max(min(n_rows, opts.row_group_rows) // 8, 1024), "fpp": 0.01}
                              for c in bloom},
        max_rows_per_page=opts.page_rows,
        store_schema=True,
    )


def _write_parquet(row_group, n_rows: int, sort_columns: list[str], bloom: list[str], opts: WriterOptions) -> bytes:
    """Write rows `row_group(lo, hi)` for every row group of `n_rows` rows."""
    first = row_group(0, min(n_rows, opts.row_group_rows))
    sink = io.BytesIO()
    with open_writer(sink, first.schema, sort_columns, bloom, n_rows, opts) as writer:
        writer.write_table(first, row_group_size=opts.row_group_rows)
        for lo in range(opts.row_group_rows, n_rows, opts.row_group_rows):
            writer.write_table(row_group(lo, min(n_rows, lo + opts.row_group_rows)), row_group_size=opts.row_group_rows)
    return sink.getvalue()


SIDECAR_SCHEMA = pa.schema([
    (SERIES_ID, pa.uint64()), (METRIC, pa.string()), (LABELS, LABELS_TYPE),
    ("min_time", TIMESTAMP_TYPE), ("max_time", TIMESTAMP_TYPE), ("samples", pa.int64()),
])


def sidecar_table(day_series: pa.Table, metric: pa.Array, rank: np.ndarray, sample_series: np.ndarray,
                  ts: np.ndarray) -> pa.Table:
    """One row per series of `day_series` (in file order, by `rank`): its samples' count and
    time range, from `sample_series` (an index into `day_series` per sample) and `ts`."""
    n = day_series.num_rows
    counts = np.bincount(sample_series, minlength=n)
    mins = np.full(n, np.iinfo(np.int64).max)
    maxs = np.full(n, np.iinfo(np.int64).min)
    np.minimum.at(mins, sample_series, ts)
    np.maximum.at(maxs, sample_series, ts)
    order = pa.array(np.argsort(rank))
    return pa.table([
        day_series.column(SERIES_ID).combine_chunks().take(order),
        metric.take(order),
        day_series.column(LABELS).combine_chunks().take(order),
        pa.array(mins).take(order).cast(TIMESTAMP_TYPE),
        pa.array(maxs).take(order).cast(TIMESTAMP_TYPE),
        pa.array(counts.astype(np.int64)).take(order),
    ], schema=SIDECAR_SCHEMA)


def sidecar_bytes(table: pa.Table, zstd_level: int) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", compression_level=zstd_level)
    return sink.getvalue()
