"""Series resolution: which series a selector matches, and where their samples are.

Matchers run vectorised on label maps (`label_values` + `Matcher.match_array`) over
the head's series table and each file's series sidecar, never over samples. The sidecar
lists a file's series in the file's row order (the writer sorts both by the same key),
so the running sum of its `samples` column is each series' exact row span in the data
file: label matchers of any kind become row ranges before a byte of samples is read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from promql.matchers import Matcher
from tsdb.head import SERIES_SCHEMA
from tsdb.ingester import HeadSnapshot
from tsdb.labelsets import label_values
from tsdb.layout.columns import LABELS, METRIC, METRIC_NAME_LABEL, SERIES_ID, TIMESTAMP, VALUE
from tsdb.manifest import FileEntry


def match_mask(labels: pa.MapArray, matchers: Sequence[Matcher], metric: pa.Array | None = None) -> np.ndarray:
    """Which label sets match every matcher; `metric` (the `__name__` values, if the
    caller has them as a column) saves a map lookup."""
    mask = np.ones(len(labels), bool)
    for m in matchers:
        if m.name == METRIC_NAME_LABEL and metric is not None:
            values = metric
        else:
            values = label_values(labels, m.name)
        mask &= m.match_array(values).to_numpy(zero_copy_only=False)
        if not mask.any():
            break
    return mask


@dataclass(frozen=True)
class FileSeries:
    """A data file's series from its sidecar, in the file's row order."""

    series_id: np.ndarray  # uint64
    min_time: np.ndarray   # int64 ms
    max_time: np.ndarray
    row_start: np.ndarray  # int64: first row of the series in the data file
    row_end: np.ndarray    # one past its last row
    labels: pa.MapArray
    metric: pa.Array

    @classmethod
    def from_sidecar(cls, table: pa.Table) -> "FileSeries":
        counts = table.column("samples").to_numpy()
        row_end = np.cumsum(counts)
        return cls(
            table.column(SERIES_ID).to_numpy(),
            _ms(table.column("min_time")), _ms(table.column("max_time")),
            row_end - counts, row_end,
            table.column(LABELS).combine_chunks(),
            table.column(METRIC).combine_chunks(),
        )

    @property
    def total_rows(self) -> int:
        return int(self.row_end[-1]) if len(self.row_end) else 0


@dataclass(frozen=True)
class FileMatch:
    """One manifest file for one selector: the sidecar rows to read, or why it is skipped."""

    entry: FileEntry
    series: FileSeries | None
    rows: np.ndarray       # sidecar row indices (increasing) of matching series overlapping the window
    skip: str | None       # "time range" or "no matching series"; None: read it


def match_file(entry: FileEntry, series: FileSeries, matchers: Sequence[Matcher], start: int, end: int) -> FileMatch:
    in_window = (series.min_time <= end) & (series.max_time >= start)
    if not in_window.any():
        return FileMatch(entry, series, np.zeros(0, np.int64), "time range")
    mask = in_window & match_mask(series.labels, matchers, series.metric)
    rows = np.flatnonzero(mask)
    return FileMatch(entry, series, rows, None if len(rows) else "no matching series")


def outside_window(entry: FileEntry) -> FileMatch:
    return FileMatch(entry, None, np.zeros(0, np.int64), "time range")


@dataclass(frozen=True)
class HeadMatch:
    """The head's samples of matching series inside the window (write order, may hold
    duplicates), and those series' labels."""

    series_id: np.ndarray   # uint64 per sample
    timestamps: np.ndarray  # int64
    values: np.ndarray      # float64
    ids: np.ndarray         # sorted distinct series with samples in the window
    labels: pa.MapArray     # aligned with `ids`

    @classmethod
    def empty(cls) -> "HeadMatch":
        return cls(np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.float64),
                   np.zeros(0, np.uint64), pa.array([], SERIES_SCHEMA.field(LABELS).type))


def match_head(snapshot: HeadSnapshot | None, matchers: Sequence[Matcher], start: int, end: int) -> HeadMatch:
    if snapshot is None or snapshot.samples.num_rows == 0:
        return HeadMatch.empty()
    series = snapshot.series
    ids, first = np.unique(series.column(SERIES_ID).to_numpy(), return_index=True)
    labels = series.column(LABELS).take(pa.array(first)).combine_chunks()
    matched = ids[match_mask(labels, matchers)]
    if len(matched) == 0:
        return HeadMatch.empty()
    samples = snapshot.samples
    ts = samples.column(TIMESTAMP)
    keep = pc.and_(pc.and_(pc.greater_equal(ts, start), pc.less_equal(ts, end)),
                   pc.is_in(samples.column(SERIES_ID), value_set=pa.array(matched)))
    hits = samples.filter(keep)
    sid = hits.column(SERIES_ID).to_numpy()
    present = np.unique(sid)
    return HeadMatch(sid, hits.column(TIMESTAMP).to_numpy(), hits.column(VALUE).to_numpy(), present,
                     labels.take(pa.array(np.searchsorted(ids, present))))


def _ms(column: pa.ChunkedArray) -> np.ndarray:
    return column.combine_chunks().view(pa.int64()).to_numpy()
