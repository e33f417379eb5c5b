"""Merging head and file samples into a `SeriesSet`, with the duplicate rule.

Parts come in ascending write priority: files by manifest `seq`, the head last. Within
a file a series' rows are contiguous and time-sorted; the head is in write order. The
fast path works on runs (maximal stretches of one series inside one part), not rows:
runs are ordered by (series, first timestamp), checked to be strictly increasing in
time across run boundaries, and the rows gathered run by run: a few linear NumPy
passes, and none at all for a single file. If any series is not strictly increasing
(parts overlap: a flush in progress, a replayed or replicated file, an out-of-order
head), the rows are fully sorted by (series, timestamp, priority) and the last copy of
each (series, timestamp) kept: the highest write sequence wins, identical copies
collapse. On 4.8 M rows of 10 k series in two files the run path (gather included) took
~130 ms, where a full `lexsort` alone takes ~850 ms.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from promql.engine.source import SeriesSet


@dataclass(frozen=True)
class Part:
    series_id: np.ndarray   # uint64
    timestamps: np.ndarray  # int64
    values: np.ndarray      # float64


def merge(parts: list[Part], ids: np.ndarray, labels: pa.MapArray | list[dict[str, str]]) -> SeriesSet:
    """`ids`: sorted distinct series ids covering every part's rows; `labels` aligned
    (a map array, or label dicts)."""
    parts = [p for p in parts if len(p.timestamps)]
    if not parts:
        return SeriesSet.empty()
    if len(parts) == 1:
        sid, ts, values = parts[0].series_id, parts[0].timestamps, parts[0].values
    else:
        sid = np.concatenate([p.series_id for p in parts])
        ts = np.concatenate([p.timestamps for p in parts])
        values = np.concatenate([p.values for p in parts])
    part_start = np.cumsum([0] + [len(p.timestamps) for p in parts[:-1]])

    runs = _runs(sid, ts, part_start)
    if runs is not None:
        take, run_sid, run_len = runs
    else:
        take = _dedup_order(sid, ts, part_start)
        sid_s = sid[take]
        first = np.flatnonzero(np.r_[True, sid_s[1:] != sid_s[:-1]])
        run_sid, run_len = sid_s[first], np.diff(np.r_[first, len(sid_s)])
    ts_s = ts if take is None else ts[take]
    values_s = values if take is None else values[take]

    # Runs are grouped by series: series boundaries are where the run's series changes.
    new_series = np.r_[True, run_sid[1:] != run_sid[:-1]]
    run_end = np.cumsum(run_len)
    offsets = np.r_[0, run_end[np.r_[new_series[1:], True]]].astype(np.int64)
    present = np.searchsorted(ids, run_sid[new_series])
    if isinstance(labels, list):
        label_dicts = [labels[i] for i in present]
    else:
        label_dicts = [dict(pairs) for pairs in labels.take(pa.array(present)).to_pylist()]  # per series, not sample
    return SeriesSet(label_dicts, offsets, np.ascontiguousarray(ts_s, np.int64),
                     np.ascontiguousarray(values_s, np.float64), run_sid[new_series].astype(np.uint64))


def _runs(sid: np.ndarray, ts: np.ndarray, part_start: np.ndarray
          ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray] | None:
    """(row order or None if unchanged, series of each run, length of each run) with runs
    in (first appearance of series, first timestamp) order; None if some series would
    not be strictly increasing in time (duplicates or overlap: use `_dedup_order`)."""
    n = len(sid)
    brk = np.empty(n, bool)
    brk[0] = True
    np.not_equal(sid[1:], sid[:-1], out=brk[1:])
    brk[part_start] = True
    if np.any((ts[1:] <= ts[:-1]) & ~brk[1:]):
        return None
    starts = np.flatnonzero(brk)
    lengths = np.diff(np.r_[starts, n])
    run_sid = sid[starts]
    _, first_run, inverse = np.unique(run_sid, return_index=True, return_inverse=True)
    run_order = np.lexsort((ts[starts], first_run[inverse]))
    ordered_sid = run_sid[run_order]
    same = ordered_sid[1:] == ordered_sid[:-1]
    t_first = ts[starts][run_order]
    t_last = ts[starts + lengths - 1][run_order]
    if np.any(same & (t_first[1:] <= t_last[:-1])):
        return None
    new_lengths = lengths[run_order]
    if np.array_equal(run_order, np.arange(len(starts))):
        return None, ordered_sid, new_lengths
    out_start = np.cumsum(new_lengths) - new_lengths
    take = np.repeat(starts[run_order] - out_start, new_lengths)
    take += np.arange(n)
    return take, ordered_sid, new_lengths


def _dedup_order(sid: np.ndarray, ts: np.ndarray, part_start: np.ndarray) -> np.ndarray:
    """Rows sorted by (series, timestamp), keeping only the highest-priority copy."""
    priority = np.zeros(len(sid), np.int64)
    priority[part_start[1:]] = 1
    priority = np.cumsum(priority)
    order = np.lexsort((priority, ts, sid))  # stable: within a part, later writes stay later
    s, t = sid[order], ts[order]
    last = np.r_[(s[1:] != s[:-1]) | (t[1:] != t[:-1]), True]
    return order[last]


def merge_sets(sets: list[SeriesSet]) -> SeriesSet:
    """Merge series sets from several replicas or stores, in ascending write priority,
    with the duplicate rule. Sets that are identical to an earlier one (RF replicas of
    the same head) are dropped first: an O(n) comparison instead of a sort."""
    unique: list[SeriesSet] = []
    for s in sets:
        if len(s.timestamps) == 0:
            continue
        if s.series_ids is None:
            raise ValueError("merging series sets needs their series ids")
        unique = [u for u in unique if not _same(u, s)] + [s]
    if not unique:
        return SeriesSet.empty()
    if len(unique) == 1:
        return unique[0]
    all_ids = np.concatenate([s.series_ids for s in unique])
    ids, first = np.unique(all_ids, return_index=True)
    all_labels = [d for s in unique for d in s.labels]
    parts = [Part(np.repeat(s.series_ids, np.diff(s.offsets)), s.timestamps, s.values) for s in unique]
    return merge(parts, ids, [all_labels[i] for i in first])


def _same(a: SeriesSet, b: SeriesSet) -> bool:
    return (len(a.timestamps) == len(b.timestamps) and np.array_equal(a.series_ids, b.series_ids)
            and np.array_equal(a.offsets, b.offsets) and np.array_equal(a.timestamps, b.timestamps)
            and np.array_equal(a.values.view(np.uint64), b.values.view(np.uint64)))
