"""rate/increase/delta (Prometheus' extrapolatedRate) and irate/idelta, for all windows at once."""
from __future__ import annotations

import numpy as np

from promql.engine.values import RangeVector


def counter_corrections(rv: RangeVector) -> np.ndarray:
    """Per sample: the previous value where a counter reset happens there, else 0."""
    v = rv.values
    corr = np.zeros(len(v))
    if len(v) > 1:
        reset = v[1:] < v[:-1]
        corr[1:] = np.where(reset, v[:-1], 0.0)
        corr[rv.offsets[:-1][rv.offsets[:-1] < len(v)]] = 0.0  # a series' first sample has no predecessor
    return corr


def go_seconds(ms: int) -> float:
    """time.Duration(ms * 1e6).Seconds(): whole seconds plus the nanosecond remainder / 1e9."""
    ms = int(ms)
    sec, rem = divmod(abs(ms), 1000)
    out = float(sec) + float(rem * 1_000_000) / 1e9
    return -out if ms < 0 else out


def _add_corrections(result: np.ndarray, corr: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """`result += corr[i]` for each reset i in [lo, hi), one at a time in sample order.

    Prometheus adds each reset's previous value to `last - first` as it walks the window;
    summing the corrections first and adding the total rounds differently.
    """
    resets = np.flatnonzero(corr)
    if len(resets) == 0:
        return result
    r_lo = np.searchsorted(resets, lo, "left")
    r_hi = np.searchsorted(resets, hi, "left")
    n_resets = np.maximum(r_hi - r_lo, 0)
    sel = np.nonzero(n_resets)
    if len(sel[0]) == 0:
        return result
    out = result.copy()
    acc, first, count = out[sel], r_lo[sel], n_resets[sel]
    for k in range(int(count.max())):
        more = k < count
        acc = np.where(more, acc + corr[resets[np.where(more, first + k, 0)]], acc)
    out[sel] = acc
    return out


def extrapolated_rate(rv: RangeVector, is_counter: bool, is_rate: bool, v2: bool
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Values and presence [n, T]; a window needs two samples.

    Extrapolates to the window edges when the first/last samples are within 1.1 average
    sample intervals of them (else by half an interval), and never below a counter's zero.
    v2 applies the zero-point limit before the threshold test, v3 after (as each version does).
    """
    lo, hi = rv.windows()
    cnt = hi - lo
    ok = cnt >= 2
    if not ok.any():
        return np.full(lo.shape, np.nan), ok
    first = np.where(ok, lo, 0)
    last = np.where(ok, hi - 1, 0)
    v, t = rv.values, rv.timestamps
    v_first, v_last = v[first], v[last]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        result = v_last - v_first
        if is_counter:
            result = _add_corrections(result, counter_corrections(rv), np.where(ok, lo + 1, 0), np.where(ok, hi, 0))
        range_end = rv.ends[None, :].astype(np.float64)
        range_start = range_end - rv.range_ms
        t_first, t_last = t[first].astype(np.float64), t[last].astype(np.float64)
        to_start = (t_first - range_start) / 1000
        to_end = (range_end - t_last) / 1000
        sampled = (t_last - t_first) / 1000
        avg = sampled / np.maximum(cnt - 1, 1)
        threshold = avg * 1.1
        zero_ok = is_counter & (result > 0) & (v_first >= 0)
        to_zero = sampled * (v_first / np.where(result != 0, result, 1.0))
        if v2:
            to_start = np.where(zero_ok & (to_zero < to_start), to_zero, to_start)
            to_start = np.where(to_start < threshold, to_start, avg / 2)
        else:
            to_start = np.where(to_start >= threshold, avg / 2, to_start)
            to_start = np.where(zero_ok & (to_zero < to_start), to_zero, to_start)
        # extrapolateToInterval := sampledInterval; += durationToStart; += durationToEnd
        # (in this order: a different association changes the last bit of the result).
        interval = sampled + to_start
        interval = interval + np.where(to_end < threshold, to_end, avg / 2)
        factor = interval / sampled
        if is_rate:
            factor = factor / go_seconds(rv.range_ms)
        result = result * factor
    return np.where(ok, result, np.nan), ok


def instant_rate(rv: RangeVector, is_rate: bool) -> tuple[np.ndarray, np.ndarray]:
    """irate/idelta: from the last two samples of each window."""
    lo, hi = rv.windows()
    ok = (hi - lo) >= 2
    last = np.where(ok, hi - 1, 0)
    prev = np.where(ok, hi - 2, 0)
    v, t = rv.values, rv.timestamps
    if len(v) == 0:
        return np.full(lo.shape, np.nan), ok
    lv, pv = v[last], v[prev]
    dt = (t[last] - t[prev]).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if is_rate:
            res = np.where(lv < pv, lv, lv - pv) / (dt / 1000)
        else:
            res = lv - pv
    ok &= dt != 0
    return np.where(ok, res, np.nan), ok
