"""The contract between the PromQL engine and storage.

The engine asks a `SampleSource` for the raw samples of the series a selector matches,
in a time window; storage answers with a `SeriesSet`: columns, sorted by series then
timestamp, already deduplicated (DESIGN §3's duplicate rule). Everything above this
line is storage-agnostic, so the engine is tested against an in-memory source and
served from the head plus the bucket in production.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from promql.matchers import Matcher


@dataclass(frozen=True)
class SeriesSet:
    """Raw samples of `n` series.

    Series `i` has labels `labels[i]` (a dict including `__name__`) and samples
    `timestamps[offsets[i]:offsets[i+1]]` / `values[...]`, strictly increasing in time.
    Values are bit-exact: stale markers (NaN with bits 0x7ff0000000000002) included.
    Series are in no particular order. `series_ids` (uint64, Prometheus' labels hash)
    is given by storage so that sets from several replicas can be merged; the engine
    does not need it.
    """

    labels: list[dict[str, str]]
    offsets: np.ndarray     # int64[n + 1]
    timestamps: np.ndarray  # int64 ms
    values: np.ndarray      # float64
    series_ids: np.ndarray | None = None  # uint64[n]
    counts: bool = False  # values are sample counts of downsampled windows (`count_over_time` sums them)

    @property
    def n_series(self) -> int:
        return len(self.labels)

    @classmethod
    def empty(cls) -> "SeriesSet":
        return cls([], np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.uint64))


class SampleSource(Protocol):
    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> SeriesSet:
        """Series matching all `matchers` with their samples in [start_ms, end_ms] (both ends
        inclusive; the engine narrows further).

        A source may also offer `select_hinted(matchers, start_ms, end_ms, func)`, told the
        function or aggregation around the selector (Prometheus' select hint); the engine
        calls it instead when present."""
        ...
