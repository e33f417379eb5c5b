"""rate/increase/delta (Prometheus' extrapolatedRate) and irate/idelta, for all windows at once."""
from __future__ import annotations

import numpy as np

from promql.engine.kernels import window_reduce
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
            corr = window_reduce(np.add, counter_corrections(rv), np.where(ok, lo + 1, 0), np.where(ok, hi, 0), 0.0)
            result = result + corr
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
            extra = np.where(to_start < threshold, to_start, avg / 2)
        else:
            to_start = np.where(to_start >= threshold, avg / 2, to_start)
            to_start = np.where(zero_ok & (to_zero < to_start), to_zero, to_start)
            extra = to_start
        extra = extra + np.where(to_end < threshold, to_end, avg / 2)
        factor = (sampled + extra) / sampled
        if is_rate:
            factor = factor / (rv.range_ms / 1000)
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
