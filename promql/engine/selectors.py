"""Sample selection: instant (lookback) alignment and range windows, via searchsorted.

All series' samples live in one flat array; a composite key (series id, time) makes one
`np.searchsorted` call locate every (series, step) position at once.
"""
from __future__ import annotations

import numpy as np

STALE_NAN_BITS = np.uint64(0x7FF0000000000002)


def is_stale(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, np.float64).view(np.uint64) == STALE_NAN_BITS


def locate(offsets: np.ndarray, timestamps: np.ndarray, times: np.ndarray, side: str) -> np.ndarray:
    """For each series i and time t, `searchsorted(ts_i, t, side)` as a flat index: int64[n, T]."""
    n = len(offsets) - 1
    times = np.asarray(times, np.int64)
    if n == 0:
        return np.zeros((0, len(times)), np.int64)
    if timestamps.size == 0:
        return np.repeat(offsets[:-1, None], len(times), axis=1)
    lo = int(min(timestamps.min(), times.min())) - 1
    hi = int(max(timestamps.max(), times.max())) + 1
    span = hi - lo + 1
    if span * (n + 1) < 2**62:
        sid = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
        keys = sid * span + (timestamps - lo)
        queries = np.arange(n, dtype=np.int64)[:, None] * span + (times - lo)[None, :]
        return np.searchsorted(keys, queries.ravel(), side).reshape(n, len(times))
    out = np.empty((n, len(times)), np.int64)  # huge spans: fall back to one search per series
    for i in range(n):
        a, b = offsets[i], offsets[i + 1]
        out[i] = a + np.searchsorted(timestamps[a:b], times, side)
    return out


def instant_select(offsets: np.ndarray, timestamps: np.ndarray, values: np.ndarray,
                   times: np.ndarray, lookback_ms: int, left_open: bool
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sample each series shows at each time: (values, present, sample timestamps) [n, T].

    The latest sample at or before t counts if it is within the lookback window and is not
    a stale marker (a stale marker ends the series until the next real sample).
    """
    idx = locate(offsets, timestamps, times, "right") - 1
    present = idx >= offsets[:-1, None]
    if timestamps.size == 0:
        shape = idx.shape
        return np.zeros(shape), np.zeros(shape, bool), np.zeros(shape, np.int64)
    safe = np.where(present, idx, 0)
    ts = timestamps[safe]
    vals = values[safe]
    limit = times[None, :] - lookback_ms
    present &= (ts > limit) if left_open else (ts >= limit)
    present &= ~is_stale(vals)
    return vals, present, ts


def drop_stale(offsets: np.ndarray, timestamps: np.ndarray, values: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Remove stale markers: range vectors never contain them."""
    stale = is_stale(values)
    if not stale.any():
        return offsets, timestamps, values
    keep = ~stale
    csum = np.concatenate([[0], np.cumsum(keep)])
    return csum[offsets].astype(np.int64), timestamps[keep], values[keep]
