"""Pushdown for one data file: which row groups to read, and which of their rows to keep.

Row groups are pruned by, in this order:
1. `timestamp` min/max statistics against the window;
2. `metric` min/max statistics against the selector's `__name__="x"` (if any);
3. the matching series' row spans from the sidecar (`series.FileSeries`): a row group
   that holds none of them is not read. This is the `series_id IN (...)` filter, done
   exactly: the sidecar names the rows, where min/max statistics of `series_id` (a hash,
   so useless for ranges), bloom filters or the page index could only guess.
The kept rows are then the union of those spans inside the window: no hash lookup per
row. The spans rely on the sidecar listing series in the data file's row order. That is
proved once per file (`spans_hold`, cached): the sidecar's row counts add up to the
file's, and its rows are sorted by the key the writer recorded as the data's order
(`metric`, the `mytsdb.sort_labels` labels, `series_id`: unique per series, so both
orders are the same). The first and last row of every span read are checked as well. A
file failing either check is read in `fallback` mode (steps 1 and 2 only, then an
`is_in` over `series_id`): a differently written file costs speed, never correctness.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tsdb.labelsets import label_values
from tsdb.query.layout import FileLayout
from tsdb.query.series import FileMatch, FileSeries


@dataclass(frozen=True)
class RowGroupPlan:
    read: np.ndarray         # row-group indices to read, increasing
    skipped_time: int
    skipped_metric: int
    skipped_series: int
    exact: bool              # rows chosen by sidecar spans (True) or by is_in (fallback)

    @property
    def total(self) -> int:
        return len(self.read) + self.skipped_time + self.skipped_metric + self.skipped_series


def plan_row_groups(layout: FileLayout, match: FileMatch, start: int, end: int, metric: str | None,
                    exact: bool) -> RowGroupPlan:
    """`exact`: prune by the sidecar's row spans (only if `spans_hold`)."""
    n = layout.num_row_groups
    keep_time = (layout.ts_max >= start) & (layout.ts_min <= end)
    keep_metric = np.ones(n, bool)
    if metric is not None:
        keep_metric = np.array([lo is None or hi is None or lo <= metric <= hi
                                for lo, hi in zip(layout.metric_min, layout.metric_max)], bool)
    exact = exact and match.series is not None
    keep_series = np.ones(n, bool)
    if exact:
        spans_start = match.series.row_start[match.rows]
        spans_end = match.series.row_end[match.rows]
        first = np.searchsorted(layout.rg_end, spans_start, side="right")
        last = np.searchsorted(layout.rg_end, spans_end - 1, side="right")
        cover = np.cumsum(np.bincount(first, minlength=n + 1)[:n] - np.bincount(last + 1, minlength=n + 1)[:n])
        keep_series = cover > 0
    t = ~keep_time
    m = keep_time & ~keep_metric
    s = keep_time & keep_metric & ~keep_series
    return RowGroupPlan(np.flatnonzero(keep_time & keep_metric & keep_series), int(t.sum()), int(m.sum()),
                        int(s.sum()), exact)


def spans_hold(layout: FileLayout, series: FileSeries) -> bool:
    """Whether the sidecar lists the series in the data file's row order."""
    if layout.sort_labels is None or series.total_rows != layout.num_rows:
        return False
    keys = {"metric": series.metric,
            **{f"label{i}": label_values(series.labels, name) for i, name in enumerate(layout.sort_labels)},
            "series_id": pa.array(series.series_id)}
    order = pc.sort_indices(pa.table(keys), sort_keys=[(k, "ascending") for k in keys]).to_numpy()
    return bool(np.array_equal(order, np.arange(len(order))))


class SpanMismatch(Exception):
    """The sidecar's row spans do not describe this file: read it in fallback mode."""


def select_rows(table: pa.Table, layout: FileLayout, plan: RowGroupPlan, match: FileMatch,
                start: int, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(series_id, timestamp, value) of the wanted series inside [start, end] from the
    row groups `plan.read` (concatenated in `table`)."""
    sid = table.column(0).to_numpy()
    ts = table.column(1).combine_chunks().view(pa.int64()).to_numpy()
    values = table.column(2).to_numpy()
    keep = (ts >= start) & (ts <= end)
    if plan.exact:
        keep &= _span_mask(sid, layout, plan.read, match)
    else:
        wanted = match.series.series_id[match.rows] if match.series is not None else np.zeros(0, np.uint64)
        keep &= pc.is_in(table.column(0), value_set=pa.array(wanted)).to_numpy(zero_copy_only=False)
    if keep.all():
        return sid, ts, values
    return sid[keep], ts[keep], values[keep]


def _span_mask(sid: np.ndarray, layout: FileLayout, read: np.ndarray, match: FileMatch) -> np.ndarray:
    """Rows of the read row groups that fall in a wanted series' span; verifies the spans."""
    n_rg = layout.num_row_groups
    is_read = np.zeros(n_rg, bool)
    is_read[read] = True
    read_rows = np.where(is_read, layout.rg_end - layout.rg_start, 0)
    before = np.r_[0, np.cumsum(read_rows)]  # local rows before each row group

    def local(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """File row -> position among the rows read (clipped forward past skipped groups),
        and whether the row itself was read."""
        rg = np.searchsorted(layout.rg_end, rows, side="right")
        clipped = np.minimum(rg, n_rg - 1)
        inside = (rg < n_rg) & is_read[clipped]
        return before[rg] + np.where(inside, rows - layout.rg_start[clipped], 0), inside

    series = match.series
    want = series.series_id[match.rows]
    a, b = series.row_start[match.rows], series.row_end[match.rows]
    (la, a_in), (lb, _) = local(a), local(b)
    l_last, last_in = local(b - 1)
    if not ((sid[la[a_in]] == want[a_in]).all() and (sid[l_last[last_in]] == want[last_in]).all()):
        raise SpanMismatch
    total = len(sid)
    diff = np.bincount(la, minlength=total + 1)[:total] - np.bincount(lb, minlength=total + 1)[:total]
    return np.cumsum(diff) > 0
