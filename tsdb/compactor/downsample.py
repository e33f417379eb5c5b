"""Downsampling with Thanos' semantics: per series and window, the count, sum, min and max of
the raw samples, and a reset-adjusted counter, so that `rate` and `increase` stay right.

A 5m file is made from a closed day's raw files (deduplicated by the same merge as
compaction), a 1h file from that day's 5m file (Thanos' chain: raw → 5m → 1h), so the 1h
copy survives the raw data's retention.

Rows (README "Downsampling"): one per series and window, at the timestamp of the window's
last raw sample (Thanos stamps the window's end; a real sample time keeps `timestamp()`,
lookback and rate's extrapolation as they are on raw data). Columns: `metric`, `labels`,
`series_id`, `timestamp`, and the aggregates `count`, `sum`, `min`, `max`, `counter`. No
label is promoted to a column, so no label can ever collide with an aggregate's name.

`counter` is the raw value plus every drop (reset) seen since the series' first sample in
the file, the correction Prometheus' `rate` makes, so resets inside a window are not lost.
Across files (days) the reader stitches these levels (`tsdb.query.downsampled`) with each
series' raw first and last value, which the sidecar keeps (`first_value`, `last_value`):
the equivalent of the raw first and last samples Thanos adds to each counter chunk.
Stale markers are skipped, as Thanos skips them.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tsdb.compactor.output import WrittenFile
from tsdb.layout.columns import LABELS, SERIES_ID, TIMESTAMP, TIMESTAMP_TYPE, VALUE
from tsdb.layout.downsampled import AGGREGATES, DOWNSAMPLED_SIDECAR_SCHEMA
from tsdb.layout.paths import new_file_name
from tsdb.query.downsampled import grouped_cumsum
from tsdb.layout.writer import SeriesColumns, WriterOptions, open_writer, sidecar_bytes

_STALE_BITS = np.uint64(0x7FF0000000000002)


@dataclass(frozen=True)
class Windows:
    """Aggregated windows of consecutive series in output order (`series` indexes the job's
    `SeriesColumns`), plus each of those series' raw first and last value."""

    series: np.ndarray
    timestamps: np.ndarray
    aggregates: dict[str, np.ndarray]
    series_first: np.ndarray  # per distinct series of `series`, in order
    series_last: np.ndarray

    def __len__(self) -> int:
        return len(self.timestamps)


def from_raw(series: np.ndarray, ts: np.ndarray, values: np.ndarray, resolution: int) -> Windows:
    """Windows of raw samples sorted by (series, time); a series is never split across calls."""
    keep = np.asarray(values, np.float64).view(np.uint64) != _STALE_BITS
    series, ts, v = series[keep], ts[keep], np.asarray(values, np.float64)[keep]
    if len(v) == 0:
        return _empty()
    new_series = np.r_[True, series[1:] != series[:-1]]
    adjusted = v + _reset_corrections(v, new_series)
    starts, ends = _window_bounds(new_series, ts // resolution)
    firsts = np.flatnonzero(new_series)
    lasts = np.r_[firsts[1:], len(v)] - 1
    return Windows(series[starts], ts[ends], {
        "count": np.diff(np.r_[starts, len(v)]).astype(np.float64),
        "sum": np.add.reduceat(v, starts),
        "min": np.fmin.reduceat(v, starts),
        "max": np.fmax.reduceat(v, starts),
        "counter": adjusted[ends],
    }, v[firsts], v[lasts])


def from_windows(series: np.ndarray, ts: np.ndarray, aggs: dict[str, np.ndarray], resolution: int,
                 series_first: np.ndarray, series_last: np.ndarray) -> Windows:
    """Coarser windows from finer ones (5m → 1h): counts and sums add up, the counter is the
    last level of the window (already reset-adjusted within the file)."""
    if len(ts) == 0:
        return _empty()
    new_series = np.r_[True, series[1:] != series[:-1]]
    starts, ends = _window_bounds(new_series, ts // resolution)
    return Windows(series[starts], ts[ends], {
        "count": np.add.reduceat(aggs["count"], starts),
        "sum": np.add.reduceat(aggs["sum"], starts),
        "min": np.fmin.reduceat(aggs["min"], starts),
        "max": np.fmax.reduceat(aggs["max"], starts),
        "counter": aggs["counter"][ends],
    }, series_first, series_last)


def _empty() -> Windows:
    z = np.zeros(0)
    return Windows(np.zeros(0, np.int64), np.zeros(0, np.int64), {a: z for a in AGGREGATES}, z, z)


def _window_bounds(new_series: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    boundary = new_series | np.r_[True, window[1:] != window[:-1]]
    starts = np.flatnonzero(boundary)
    return starts, np.r_[starts[1:], len(window)] - 1


def _reset_corrections(v: np.ndarray, new_series: np.ndarray) -> np.ndarray:
    """Per sample, the sum of the values just before each drop earlier in its series."""
    drop = np.r_[False, (v[1:] < v[:-1]) & ~new_series[1:]]
    return grouped_cumsum(np.where(drop, np.r_[0.0, v[:-1]], 0.0), new_series)


class DownsampledOutput:
    """One downsampled file: `append` windows in output order, then `close`."""

    def __init__(self, directory: Path, columns: SeriesColumns, opts: WriterOptions) -> None:
        self.name = new_file_name(2)
        self.path = directory / f"{self.name}.parquet"
        self.columns = columns
        self.opts = opts
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[Windows] = []
        self._pending_rows = 0
        self.rows = 0
        self._side: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def append(self, w: Windows) -> None:
        if len(w) == 0:
            return
        starts = np.flatnonzero(np.r_[True, w.series[1:] != w.series[:-1]])
        ends = np.r_[starts[1:], len(w)] - 1
        self._side.append((w.series[starts], np.diff(np.r_[starts, len(w)]), w.timestamps[starts],
                           w.timestamps[ends], w.series_first, w.series_last))
        self._pending.append(w)
        self._pending_rows += len(w)
        if self._pending_rows >= self.opts.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._pending_rows:
            return
        series = np.concatenate([w.series for w in self._pending])
        ts = np.concatenate([w.timestamps for w in self._pending])
        table = self.columns.rows(series, ts, pa.nulls(len(ts), pa.float64())).drop_columns([VALUE])
        for a in AGGREGATES:
            table = table.append_column(a, pa.array(np.concatenate([w.aggregates[a] for w in self._pending])))
        if self._writer is None:
            self._writer = open_writer(str(self.path), table.schema, self.columns.sort_columns,
                                       self.columns.bloom_columns, len(ts), self.opts)
        self._writer.write_table(table, row_group_size=len(ts))
        self.rows += len(ts)
        self._pending, self._pending_rows = [], 0

    def close(self) -> WrittenFile | None:
        self._flush()
        if self._writer is None:
            return None
        self._writer.close()
        series, counts, mins, maxs, firsts, lasts = (np.concatenate(x) for x in zip(*self._side))
        idx = pa.array(series)
        sidecar = pa.table([
            self.columns.ids.take(idx), self.columns.metric.take(idx), self.columns.labels.take(idx),
            pa.array(mins).cast(TIMESTAMP_TYPE), pa.array(maxs).cast(TIMESTAMP_TYPE),
            pa.array(counts.astype(np.int64)), pa.array(firsts, pa.float64()), pa.array(lasts, pa.float64()),
        ], schema=DOWNSAMPLED_SIDECAR_SCHEMA)
        return WrittenFile(self.name, self.path, sidecar_bytes(sidecar, self.opts.zstd_level), int(mins.min()),
                           int(maxs.max()), self.rows, len(series), os.path.getsize(self.path))

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.path.unlink(missing_ok=True)


def read_windows(data: bytes, sidecar: pa.Table, batch_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray,
                                                                                   dict[str, np.ndarray]]]:
    """A downsampled file's rows as (series index into `sidecar`, timestamps, aggregates), in
    file order, in pieces of about `batch_rows` rows that never split a series."""
    ids = sidecar.column(SERIES_ID).to_numpy()
    order = np.argsort(ids)
    pf = pq.ParquetFile(io.BytesIO(data))
    carry: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = []
    for batch in pf.iter_batches(batch_size=batch_rows, columns=[SERIES_ID, TIMESTAMP, *AGGREGATES]):
        sid = batch.column(0).to_numpy()
        series = order[np.searchsorted(ids, sid, sorter=order)]
        ts = batch.column(1).cast(pa.int64()).to_numpy()
        aggs = {a: batch.column(2 + i).to_numpy(zero_copy_only=False) for i, a in enumerate(AGGREGATES)}
        carry.append((series, ts, aggs))
        cut = int(np.flatnonzero(np.r_[True, series[1:] != series[:-1]])[-1])  # the last series may go on
        if cut == 0:
            continue
        yield _joined(carry, cut)
        carry = [(series[cut:], ts[cut:], {a: x[cut:] for a, x in aggs.items()})]
    if carry and len(carry[0][1]):
        yield _joined(carry, len(carry[-1][1]))


def _joined(parts: list, cut: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Concatenate `parts`, keeping only the first `cut` rows of the last one."""
    head, last = parts[:-1], parts[-1]
    series = np.concatenate([p[0] for p in head] + [last[0][:cut]])
    ts = np.concatenate([p[1] for p in head] + [last[1][:cut]])
    aggs = {a: np.concatenate([p[2][a] for p in head] + [last[2][a][:cut]]) for a in AGGREGATES}
    return series, ts, aggs


def columns_of(sidecar: pa.Table) -> SeriesColumns:
    """The series columns of a downsampled file: no label promoted (see the module doc)."""
    return SeriesColumns.of(sidecar.select([SERIES_ID, LABELS]), 0)

