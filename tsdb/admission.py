"""Which samples of a push a head accepts: Prometheus' append rules, vectorised.

Per sample, in request order within each series:
- older than `min_valid` -> too old;
- newer than the series' newest sample so far -> accepted;
- equal timestamp: identical bits -> silently ignored (a client retry), else rejected
  as a duplicate timestamp;
- older than the newest sample -> out of order, unless out-of-order ingestion is on,
  in which case it is accepted (readers apply the duplicate rule).

"Newest so far" includes earlier samples of the same request. The running maximum over
all samples equals the running maximum over the accepted ones (a rejected sample never
exceeds the maximum, except a too-old one, which lies below everything valid), so one
segmented cumulative max decides every sample without a Python loop.
"""
from __future__ import annotations

import numpy as np

ACCEPT = 0
IGNORE_DUPLICATE = 1
OUT_OF_ORDER = 2
DUPLICATE_TIMESTAMP = 3
TOO_OLD = 4

NO_SAMPLE = np.iinfo(np.int64).min


def admit(group: np.ndarray, ts: np.ndarray, bits: np.ndarray,
          state_max: np.ndarray, state_bits: np.ndarray,
          min_valid: int, ooo_allowed: bool) -> np.ndarray:
    """Decide every sample. `group` is the series index of each sample; `state_max` and
    `state_bits` give, per sample, its series' newest stored sample (NO_SAMPLE if none).
    Returns a uint8 code per sample, in request order."""
    n = len(ts)
    if n == 0:
        return np.zeros(0, np.uint8)
    order = None if np.all(group[1:] >= group[:-1]) else np.argsort(group, kind="stable")
    g = group if order is None else group[order]
    t = ts if order is None else ts[order]
    b = bits if order is None else bits[order]
    smax = state_max if order is None else state_max[order]
    sbits = state_bits if order is None else state_bits[order]

    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    same = g[1:] == g[:-1]
    increasing = np.all(t[1:][same] > t[:-1][same]) and np.all(t[starts] > smax[starts])
    if increasing:
        prev_max = None
        codes = np.zeros(n, np.uint8)
    else:
        prev_max, prev_bits = _previous_max(g, t, b, starts, smax[starts], sbits[starts])
        codes = np.full(n, OUT_OF_ORDER, np.uint8)
        codes[t > prev_max] = ACCEPT
        eq = t == prev_max
        codes[eq & (b == prev_bits)] = IGNORE_DUPLICATE
        codes[eq & (b != prev_bits)] = DUPLICATE_TIMESTAMP
        if ooo_allowed:
            codes[t < prev_max] = ACCEPT
    codes[t < min_valid] = TOO_OLD
    if order is not None:
        unsorted = np.empty_like(codes)
        unsorted[order] = codes
        codes = unsorted
    return codes


def _previous_max(g, t, b, starts, head_ts, head_bits):
    """Per sample: the newest timestamp before it in its series (state included), and the
    bits of the first sample that had it."""
    n, k = len(t), len(starts)
    dense = np.repeat(np.arange(k), np.diff(np.r_[starts, n]))
    aug_ts = np.concatenate([head_ts, t])
    aug_bits = np.concatenate([head_bits, b])
    aug_group = np.concatenate([np.arange(k), dense])
    aug_pos = np.concatenate([np.full(k, -1), np.arange(n)])
    order = np.lexsort((aug_pos, aug_group))
    uniq, rank = np.unique(aug_ts, return_inverse=True)
    width = len(uniq) + 1
    key = (aug_group * width + rank)[order]
    running = np.maximum.accumulate(key)
    sample_slots = np.flatnonzero(aug_pos[order] >= 0)
    prev_key = running[sample_slots - 1]
    ukeys, first = np.unique(key, return_index=True)
    prev_bits_sorted = aug_bits[order][first[np.searchsorted(ukeys, prev_key)]]
    # sample_slots are in (group, position) order, which is the order of t.
    return uniq[prev_key % width], prev_bits_sorted
