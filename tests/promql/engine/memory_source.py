"""An in-memory `SampleSource` for engine tests: the reference the real storage must match."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa

from promql.engine.source import SeriesSet
from promql.matchers import Matcher

SeriesInput = list[tuple[dict[str, str], list[tuple[int, float]]]]


class MemorySource:
    """Holds series as sorted arrays; equal label sets are merged (a later sample wins)."""

    def __init__(self, series: SeriesInput) -> None:
        merged: dict[tuple[tuple[str, str], ...], dict[int, float]] = {}
        for labels, samples in series:
            key = tuple(sorted(labels.items()))
            bucket = merged.setdefault(key, {})
            for t, v in samples:
                bucket[int(t)] = float(v)
        self._labels: list[dict[str, str]] = []
        self._ts: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []
        for key, bucket in merged.items():
            if not bucket:
                continue
            order = sorted(bucket)
            self._labels.append(dict(key))
            self._ts.append(np.array(order, np.int64))
            self._vals.append(np.array([bucket[t] for t in order], np.float64))

    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> SeriesSet:
        n = len(self._labels)
        keep = np.ones(n, bool)
        for m in matchers:
            column = pa.array([lb.get(m.name) for lb in self._labels], pa.string())
            keep &= np.asarray(m.match_array(column).to_numpy(zero_copy_only=False), bool)
        labels: list[dict[str, str]] = []
        ts_parts: list[np.ndarray] = []
        val_parts: list[np.ndarray] = []
        for i in np.flatnonzero(keep):
            ts = self._ts[i]
            lo, hi = np.searchsorted(ts, [start_ms, end_ms], side="left")[0], np.searchsorted(ts, end_ms, "right")
            if hi > lo:
                labels.append(dict(self._labels[i]))
                ts_parts.append(ts[lo:hi])
                val_parts.append(self._vals[i][lo:hi])
        if not labels:
            return SeriesSet.empty()
        offsets = np.zeros(len(labels) + 1, np.int64)
        offsets[1:] = np.cumsum([len(p) for p in ts_parts])
        return SeriesSet(labels, offsets, np.concatenate(ts_parts), np.concatenate(val_parts))
