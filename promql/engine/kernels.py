"""Vectorised numeric kernels shared by functions and aggregations.

Prometheus reduces windows and groups with sequential loops (Kahan-compensated sums,
Welford variance, ...). Here each loop runs once per *position* (sample index inside a
window, or member rank inside a group) over all windows or groups at once, so results
match Prometheus' arithmetic while the work stays in NumPy.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

CHUNK_ELEMENTS = 1 << 22


def kahan_inc(inc: np.ndarray, total: np.ndarray, comp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prometheus' kahanSumInc (Neumaier's variant), element-wise."""
    with np.errstate(invalid="ignore", over="ignore"):
        t = total + inc
        big = np.abs(total) >= np.abs(inc)
        c = comp + np.where(big, (total - t) + inc, (inc - t) + total)
        c = np.where(np.isinf(t), 0.0, c)
    return t, c


def window_reduce(ufunc: np.ufunc, arr: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                  fill: float = np.nan) -> np.ndarray:
    """`ufunc.reduce(arr[lo:hi])` for every window (lo, hi same shape); `fill` where empty.

    One `reduceat` over interleaved bounds: overlapping windows need no copies.
    """
    out = np.full(lo.shape, fill, dtype=np.result_type(arr.dtype, np.float64) if arr.dtype.kind == "f" else arr.dtype)
    nonempty = hi > lo
    if not nonempty.any():
        return out
    a, b = lo[nonempty], hi[nonempty]
    ext = np.concatenate([arr, arr[:1]])
    bounds = np.empty(2 * len(a), np.int64)
    bounds[0::2], bounds[1::2] = a, b
    out[nonempty] = ufunc.reduceat(ext, bounds)[0::2]
    return out


FoldFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def fold_windows(values: np.ndarray, timestamps: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 min_count: int, fn: FoldFn) -> tuple[np.ndarray, np.ndarray]:
    """Apply `fn` to every window with at least `min_count` samples; returns (out, present) [n, T].

    `fn(V, TS, mask, counts, steps)` receives the windows padded to a common length
    (`mask` marks real samples) and the step index of each window, in chunks bounded
    in memory, and returns (result, ok) per window.
    """
    counts = hi - lo
    sel = counts >= max(min_count, 1)
    out = np.full(lo.shape, np.nan)
    present = np.zeros(lo.shape, bool)
    rows, cols = np.nonzero(sel)
    if len(rows) == 0:
        return out, present
    w_lo, w_cnt = lo[rows, cols], counts[rows, cols]
    for part in _chunks(w_cnt):
        c = w_cnt[part]
        width = int(c.max())
        j = np.arange(width)
        mask = j[None, :] < c[:, None]
        idx = np.where(mask, w_lo[part][:, None] + j[None, :], 0)
        res, ok = fn(values[idx], timestamps[idx], mask, c, cols[part])
        out[rows[part], cols[part]] = res
        present[rows[part], cols[part]] = ok
    return out, present


def _chunks(counts: np.ndarray) -> Iterator[slice]:
    width = max(int(counts.max()), 1)
    size = max(1, CHUNK_ELEMENTS // width)
    for start in range(0, len(counts), size):
        yield slice(start, min(start + size, len(counts)))


def sorted_quantile(vals: np.ndarray, mask: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Prometheus' `quantile` along axis 1 of `vals` (only `mask`ed entries; NaNs sort first).

    `q` is one quantile per row. Rows without entries give NaN.
    """
    m, width = vals.shape
    cnt = mask.sum(axis=1)
    nan = np.isnan(vals)
    category = np.where(~mask, 2, np.where(nan, 0, 1))
    filled = np.where(mask & ~nan, vals, 0.0)
    order = np.lexsort((filled, category), axis=1)
    s = np.take_along_axis(vals, order, axis=1)
    out = np.full(m, np.nan)
    with np.errstate(invalid="ignore"):
        n = cnt.astype(np.float64)
        rank = q * (n - 1)
        lower = np.maximum(0, np.floor(rank))
        upper = np.minimum(n - 1, lower + 1)
        weight = rank - np.floor(rank)
        ok = (cnt > 0) & ~np.isnan(q) & (q >= 0) & (q <= 1)
        li = np.clip(np.nan_to_num(lower), 0, max(width - 1, 0)).astype(np.int64)
        ui = np.clip(np.nan_to_num(upper), 0, max(width - 1, 0)).astype(np.int64)
        if width:
            lv = s[np.arange(m), li]
            uv = s[np.arange(m), ui]
            out = np.where(ok, lv * (1 - weight) + uv * weight, np.nan)
    out = np.where((cnt > 0) & (q < 0), -np.inf, out)
    out = np.where((cnt > 0) & (q > 1), np.inf, out)
    return out


def group_ranks(gid: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (rows, groups) for rank 0, 1, ...: the r-th member (input order) of every group.

    Sequential per-group folds become one vectorised update per rank; a group appears
    at most once per rank, so fancy-indexed updates never collide.
    """
    n = len(gid)
    if n == 0:
        return
    order = np.argsort(gid, kind="stable")
    sg = gid[order]
    first = np.concatenate([[True], sg[1:] != sg[:-1]])
    starts = np.flatnonzero(first)
    run = np.repeat(starts, np.diff(np.concatenate([starts, [n]])))
    rank = np.arange(n) - run
    by_rank = np.argsort(rank, kind="stable")
    ranks_sorted = rank[by_rank]
    bounds = np.searchsorted(ranks_sorted, np.arange(int(rank.max()) + 2))
    for r in range(int(rank.max()) + 1):
        sl = order[by_rank[bounds[r]:bounds[r + 1]]]
        yield sl, gid[sl]
