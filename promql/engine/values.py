"""Internal values of an evaluation over all steps at once.

An instant vector is a (series x steps) matrix with a presence mask, so every operator
works on whole columns with NumPy; a range vector is raw samples (stale markers removed)
plus the window end per step, so range functions reduce windows located by searchsorted.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from promql.engine.errors import SAME_LABELSET, execution_error
from promql.engine.labels import drop_name, label_key


@dataclass
class Scalar:
    values: np.ndarray  # float64[T]


@dataclass
class String:
    value: str


@dataclass
class InstantVector:
    labels: list[dict[str, str]]
    values: np.ndarray   # float64[n, T]
    present: np.ndarray  # bool[n, T]
    drop_name: np.ndarray | None = None  # bool[n]: v3 delayed __name__ removal pending
    order: np.ndarray | None = None      # float64[n, T]: explicit output order (sort, topk)

    @property
    def n(self) -> int:
        return len(self.labels)

    @classmethod
    def empty(cls, n_steps: int) -> "InstantVector":
        return cls([], np.zeros((0, n_steps)), np.zeros((0, n_steps), bool))

    def take(self, rows: np.ndarray) -> "InstantVector":
        rows = np.asarray(rows, np.int64)
        return InstantVector(
            [self.labels[i] for i in rows], self.values[rows], self.present[rows],
            None if self.drop_name is None else self.drop_name[rows],
            None if self.order is None else self.order[rows])

    def compact(self) -> "InstantVector":
        """Drop series without any sample: they would not appear in Prometheus' output."""
        keep = self.present.any(axis=1)
        if keep.all():
            return self
        return self.take(np.flatnonzero(keep))

    def drops(self) -> np.ndarray:
        return np.zeros(self.n, bool) if self.drop_name is None else self.drop_name

    def with_values(self, values: np.ndarray, present: np.ndarray | None = None) -> "InstantVector":
        return replace(self, values=values, present=self.present if present is None else present)


@dataclass
class RangeVector:
    """Samples of `n` series (no stale markers) and, per step, the window ending at `ends`."""

    labels: list[dict[str, str]]
    offsets: np.ndarray     # int64[n + 1]
    timestamps: np.ndarray  # int64
    values: np.ndarray      # float64
    ends: np.ndarray        # int64[T]: window end (after @ and offset) per step
    range_ms: int
    left_open: bool
    drop_name: np.ndarray | None = None
    _windows: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    counts: bool = False  # values are sample counts (downsampled windows): see `SeriesSet.counts`

    @property
    def n(self) -> int:
        return len(self.labels)

    def windows(self) -> tuple[np.ndarray, np.ndarray]:
        """Flat sample index bounds [lo, hi) of every (series, step) window."""
        if self._windows is None:
            from promql.engine.selectors import locate

            starts = self.ends - self.range_ms
            lo = locate(self.offsets, self.timestamps, starts, "right" if self.left_open else "left")
            hi = locate(self.offsets, self.timestamps, self.ends, "right")
            self._windows = (lo, hi)
        return self._windows

    def drops(self) -> np.ndarray:
        return np.zeros(self.n, bool) if self.drop_name is None else self.drop_name


Value = Scalar | String | InstantVector | RangeVector


def merge_same_labels(vec: InstantVector) -> InstantVector:
    """Merge series with equal label sets; two of them present at one step is an error.

    Prometheus builds range results keyed by label set and fails with "vector cannot contain
    metrics with the same labelset" when one step holds two; this is the vectorised check.
    """
    if vec.n < 2:
        return vec
    keys = [label_key(lb) for lb in vec.labels]
    if len(set(keys)) == len(keys):
        return vec
    groups: dict[tuple, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    firsts = []
    values, present = vec.values.copy(), vec.present.copy()
    for rows in groups.values():
        first = rows[0]
        firsts.append(first)
        if len(rows) == 1:
            continue
        if (vec.present[rows].sum(axis=0) > 1).any():
            raise execution_error(SAME_LABELSET)
        for r in rows[1:]:
            m = vec.present[r]
            values[first, m] = vec.values[r, m]
            present[first] |= m
    out = InstantVector(vec.labels, values, present, vec.drop_name, vec.order)
    return out.take(np.array(firsts, np.int64))


def finalize_names(vec: InstantVector) -> InstantVector:
    """Apply pending (delayed) __name__ removal, then re-check label set uniqueness."""
    if vec.drop_name is None or not vec.drop_name.any():
        return replace(vec, drop_name=None)
    labels = [drop_name(lb) if d else lb for lb, d in zip(vec.labels, vec.drop_name)]
    return merge_same_labels(replace(vec, labels=labels, drop_name=None))
