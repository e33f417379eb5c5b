"""histogram_quantile over classic (`le`-labelled) bucket series, with the monotonicity fix."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from promql.ast import Call
from promql.engine.labels import group_ids, label_key
from promql.engine.values import InstantVector, Value
from promql.numbers import parse_go_number

if TYPE_CHECKING:
    from promql.engine.evaluator import Evaluator

SMALL_DELTA_TOLERANCE = 1e-12
_MIN_NORMAL = float.fromhex("0x1p-1022")
_MAX_FLOAT = np.finfo(np.float64).max


def histogram_quantile(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    q = ev.eval_scalar(call.args[0], ts)
    vec = ev.eval_vector(call.args[1], ts)
    T = len(ts)
    bounds = np.full(vec.n, np.nan)
    for i, lb in enumerate(vec.labels):  # per series: parse the bucket bound
        try:
            bounds[i] = _parse_float(lb["le"]) if "le" in lb else np.nan
        except ValueError:
            pass
    usable = ~np.isnan(bounds)
    drops = vec.drops()

    def group_key(lb: dict[str, str]) -> tuple:
        return label_key({k: v for k, v in lb.items() if k != "le"})

    rows_all = np.flatnonzero(usable)
    gid, keys = group_ids(group_key(vec.labels[i]) for i in rows_all)
    out = np.full((len(keys), T), np.nan)
    present = np.zeros((len(keys), T), bool)
    pend = np.zeros(len(keys), bool)
    for g in range(len(keys)):
        rows = rows_all[gid == g]
        rows = rows[np.argsort(bounds[rows], kind="stable")]
        pend[g] = not ev.v2
        P = vec.present[rows]
        has = P.any(axis=0)
        present[g] = has
        cols = np.flatnonzero(has)
        if len(cols) == 0:
            continue
        patterns, inv = np.unique(P[:, cols].T, axis=0, return_inverse=True)
        inv = np.asarray(inv).ravel()
        for k, pattern in enumerate(patterns):
            c = cols[inv == k]
            sel = rows[pattern]
            out[g, c] = _bucket_quantile(q[c], bounds[sel], vec.values[sel][:, c], ev.v2)
    labels = [dict(k) for k in keys]
    del drops, pend
    return ev.maybe_drop_name(InstantVector(labels, out, present), drop=True)


def _parse_float(text: str) -> float:
    """strconv.ParseFloat: a sign, then a Go float literal."""
    body = text[1:] if text[:1] in "+-" else text
    return (-1.0 if text[:1] == "-" else 1.0) * parse_go_number(body)


def _ensure_monotonic(counts: np.ndarray) -> None:
    """Prometheus 2's ensureMonotonic, in place per column: raise each count to the running
    maximum. A NaN count compares false both ways, so it stays NaN and leaves the maximum as is
    (and a leading NaN maximum disables the fix for the rest of the column)."""
    top = counts[0].copy()
    for i in range(1, len(counts)):
        cur = counts[i]
        top = np.where(cur > top, cur, top)
        counts[i] = np.where(cur < top, top, cur)


def _almost_equal(a: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """util/almost.Equal (no stale markers reach here)."""
    with np.errstate(invalid="ignore", over="ignore"):
        abs_sum = np.abs(a) + np.abs(b)
        diff = np.abs(a - b)
        tiny = (a == 0) | (b == 0) | (abs_sum < _MIN_NORMAL)
        rel = np.where(tiny, diff < eps * _MIN_NORMAL, diff / np.minimum(abs_sum, _MAX_FLOAT) < eps)
    return (np.isnan(a) & np.isnan(b)) | (a == b) | rel


def _ensure_monotonic_ignoring_small_deltas(counts: np.ndarray, tolerance: float) -> None:
    """Prometheus 3's ensureMonotonicAndIgnoreSmallDeltas, in place per column."""
    prev = counts[0].copy()
    for i in range(1, len(counts)):
        cur = counts[i]
        same = cur == prev
        fix = ~same & (_almost_equal(prev, cur, tolerance) | (cur < prev))
        counts[i] = np.where(fix, prev, cur)
        prev = np.where(fix | same, prev, cur)


def _sort_search(counts: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """sort.Search(len(counts), counts[i] >= rank) per column: Go's binary search, which a
    non-monotonic column (NaN counts) can steer differently from a linear scan."""
    n = len(counts)
    lo = np.zeros(len(rank), np.int64)
    hi = np.full(len(rank), n, np.int64)
    cols = np.arange(len(rank))
    with np.errstate(invalid="ignore"):
        while (lo < hi).any():
            active = lo < hi
            h = (lo + hi) >> 1
            ok = counts[np.minimum(h, n - 1), cols] >= rank
            lo = np.where(active & ~ok, h + 1, lo)
            hi = np.where(active & ok, h, hi)
    return lo


def _bucket_quantile(q: np.ndarray, ub: np.ndarray, counts: np.ndarray, v2: bool) -> np.ndarray:
    """Prometheus' bucketQuantile for buckets `ub` (sorted) with counts [B, steps]."""
    res = np.full(len(q), np.nan)
    if ub[-1] != np.inf:
        res[:] = np.nan
    else:
        uniq, start = np.unique(ub, return_index=True)
        counts = np.add.reduceat(counts, start, axis=0) if len(uniq) < len(ub) else counts.copy()
        ub = uniq
        if v2:
            _ensure_monotonic(counts)
        else:
            _ensure_monotonic_ignoring_small_deltas(counts, SMALL_DELTA_TOLERANCE)
        B = len(ub)
        if B >= 2:
            obs = counts[-1]
            with np.errstate(invalid="ignore", divide="ignore"):
                rank = q * obs
                b = _sort_search(counts[:-1], rank)
                cols = np.arange(len(q))
                bucket_end = ub[b]
                bucket_start = np.where(b > 0, ub[np.maximum(b - 1, 0)], 0.0)
                prev_count = np.where(b > 0, counts[np.maximum(b - 1, 0), cols], 0.0)
                count = counts[b, cols] - prev_count
                r = rank - prev_count
                val = bucket_start + (bucket_end - bucket_start) * (r / count)
                val = np.where(b == B - 1, ub[B - 2], val)
                val = np.where((b == 0) & (ub[0] <= 0), ub[0], val)
                res = np.where(obs == 0, np.nan, val)
    res = np.where(q < 0, -np.inf, res)
    res = np.where(q > 1, np.inf, res)
    return np.where(np.isnan(q), np.nan, res)
