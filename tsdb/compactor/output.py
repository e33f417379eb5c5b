"""Compacted files, written as the merge streams: fixed-size row groups, a sidecar built
from per-series figures gathered on the way, and a new file once one passes its size cap.

Files go to local scratch space first and are uploaded whole (multipart above 5 MiB), so
a file in the bucket is always complete; an upload that is never committed is an orphan
the next pass removes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from tsdb.layout.columns import TIMESTAMP_TYPE
from tsdb.layout.writer import SIDECAR_SCHEMA, SeriesColumns, WriterOptions, open_writer, sidecar_bytes
from tsdb.layout.paths import new_file_name


@dataclass(frozen=True)
class WrittenFile:
    name: str            # the object name (no extension), as `new_file_name` makes them
    local_path: Path
    sidecar: bytes
    min_time: int
    max_time: int
    rows: int
    series: int
    bytes: int


class OutputFile:
    """One output file: `append` batches in output order, then `close`."""

    def __init__(self, directory: Path, level: int, columns: SeriesColumns, expected_rows: int,
                 opts: WriterOptions) -> None:
        self.name = new_file_name(level)
        self.path = directory / f"{self.name}.parquet"
        self.columns = columns
        self.opts = opts
        self.expected_rows = expected_rows
        self._writer = None
        self._pending: list[tuple[np.ndarray, np.ndarray, pa.Array]] = []
        self._pending_rows = 0
        self.rows = 0
        # Per-series figures, one entry per run of a series in the appended batches.
        self._series: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self._mins: list[np.ndarray] = []
        self._maxs: list[np.ndarray] = []

    @property
    def bytes_written(self) -> int:
        return self.path.stat().st_size if self._writer is not None else 0

    def append(self, series: np.ndarray, ts: np.ndarray, values: pa.Array) -> None:
        if len(ts) == 0:
            return
        starts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
        self._series.append(series[starts])
        self._counts.append(np.diff(np.r_[starts, len(series)]))
        self._mins.append(ts[starts])  # rows of a series are in time order
        self._maxs.append(ts[np.r_[starts[1:], len(series)] - 1])
        self._pending.append((series, ts, values))
        self._pending_rows += len(ts)
        while self._pending_rows >= self.opts.row_group_rows:
            self._write_row_group(self.opts.row_group_rows)

    def _take_pending(self, n: int) -> tuple[np.ndarray, np.ndarray, pa.Array]:
        series = np.concatenate([p[0] for p in self._pending])
        ts = np.concatenate([p[1] for p in self._pending])
        values = pa.concat_arrays([p[2] for p in self._pending])
        rest = len(ts) - n
        self._pending = [(series[n:], ts[n:], values.slice(n))] if rest else []
        self._pending_rows = rest
        return series[:n], ts[:n], values.slice(0, n)

    def _write_row_group(self, n: int) -> None:
        series, ts, values = self._take_pending(n)
        table = self.columns.rows(series, ts, values)
        if self._writer is None:
            self._writer = open_writer(str(self.path), table.schema, self.columns.sort_columns,
                                       self.columns.bloom_columns, self.expected_rows, self.opts)
        self._writer.write_table(table, row_group_size=n)
        self.rows += n

    def close(self) -> WrittenFile | None:
        if self._pending_rows:
            self._write_row_group(self._pending_rows)
        if self._writer is None:
            return None
        self._writer.close()
        series = np.concatenate(self._series)
        counts, mins, maxs = (np.concatenate(x) for x in (self._counts, self._mins, self._maxs))
        # A series split across two appended batches has two runs: fold them.
        starts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
        series = series[starts]
        counts = np.add.reduceat(counts, starts)
        mins = np.minimum.reduceat(mins, starts)
        maxs = np.maximum.reduceat(maxs, starts)
        idx = pa.array(series)
        table = pa.table([
            self.columns.ids.take(idx), self.columns.metric.take(idx), self.columns.labels.take(idx),
            pa.array(mins).cast(TIMESTAMP_TYPE), pa.array(maxs).cast(TIMESTAMP_TYPE), pa.array(counts.astype(np.int64)),
        ], schema=SIDECAR_SCHEMA)
        return WrittenFile(self.name, self.path, sidecar_bytes(table, self.opts.zstd_level), int(mins.min()),
                           int(maxs.max()), self.rows, len(series), os.path.getsize(self.path))

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.path.unlink(missing_ok=True)
