"""Reading downsampled files at query time, as Thanos' querier does.

- Which files: only when the request allows it (`max_source_resolution`, raw by default).
  Per UTC day, the coarsest copy not coarser than allowed is read, and raw files where a
  day has none (recent days, or downsampling off), so a long range mixes resolutions.
- Which aggregate, from the function around the selector (Prometheus' select hint):
  `min*` → min, `max*` → max, `count*` → count, `sum_*` → sum, `rate`, `increase`, `irate`
  and `resets` → counter, anything else (a bare selector, `avg_over_time`, `sum(...)`) →
  sum/count, the window's average. Raw samples stand for themselves (a count of 1 each).
- Counters: each day's `counter` levels are reset-adjusted from that day's first raw
  value, so a day boundary is stitched with the raw first and last value the sidecar
  keeps: the boundary counts as a reset only if the raw value dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa

from promql.engine.source import SeriesSet
from tsdb.layout.paths import day_start_ms
from tsdb.manifest import FileEntry, Manifest

MS_PER_DAY = 86_400_000
COUNTER_FUNCS = frozenset({"rate", "increase", "irate", "resets"})
_STALE_BITS = np.uint64(0x7FF0000000000002)
RESOLUTION_NAMES = {"0s": 0, "0": 0, "raw": 0, "5m": 300_000, "1h": 3_600_000}


def parse_max_source_resolution(text: str, step_ms: int) -> int:
    """Thanos' `max_source_resolution`: `0s`/`raw`, `5m`, `1h`, or `auto` (a fifth of the
    step, as Thanos picks it). Raises ValueError for anything else."""
    if text == "auto":
        return max(r for r in RESOLUTION_NAMES.values() if r <= max(step_ms, 0) // 5)
    if text not in RESOLUTION_NAMES:
        raise ValueError(f'unknown max_source_resolution "{text}": use 0s, 5m, 1h or auto')
    return RESOLUTION_NAMES[text]


def aggregate_for(func: str) -> str:
    """The aggregate Thanos reads for the function around a selector."""
    if func == "min" or func.startswith("min_"):
        return "min"
    if func == "max" or func.startswith("max_"):
        return "max"
    if func == "count" or func.startswith("count_"):
        return "count"
    if func.startswith("sum_"):
        return "sum"
    if func in COUNTER_FUNCS:
        return "counter"
    return "avg"


def columns_for(aggregate: str) -> tuple[str, ...]:
    return ("sum", "count") if aggregate == "avg" else (aggregate,)


def downsampled_values(table: pa.Table, aggregate: str) -> np.ndarray:
    """The value each row stands for, from the aggregate columns after `series_id`, `timestamp`."""
    if aggregate == "avg":
        return table.column(2).to_numpy() / table.column(3).to_numpy()
    return table.column(2).to_numpy()


def raw_values(values: np.ndarray, aggregate: str) -> np.ndarray:
    """Raw samples under an aggregate: themselves, or a count of one (stale markers kept)."""
    if aggregate != "count":
        return values
    return np.where(values.view(np.uint64) == _STALE_BITS, values, 1.0)


@dataclass(frozen=True)
class Choice:
    """The files one select reads, and which days come from which resolution."""

    files: list[FileEntry]
    days: dict[int, int]  # day index (since the epoch) → resolution, for downsampled days only


def choose_files(manifest: Manifest, raw: list[FileEntry], max_resolution: int) -> Choice:
    """Per day, the coarsest downsampled copy allowed; raw files (`raw`, the manifest's raw
    files as the caller narrowed them) for the other days."""
    if max_resolution <= 0:
        return Choice(raw, {})
    best: dict[str, int] = {}
    for e in manifest.downsampled:
        if e.resolution <= max_resolution and e.resolution > best.get(e.day, 0):
            best[e.day] = e.resolution
    chosen = [e for e in manifest.downsampled if best.get(e.day) == e.resolution]
    files = [e for e in raw if e.day not in best] + chosen
    return Choice(files, {day_start_ms(d) // MS_PER_DAY: r for d, r in best.items()})


def grouped_cumsum(x: np.ndarray, new_group: np.ndarray) -> np.ndarray:
    """Running sums of `x` restarting where `new_group` is set. `x` is mostly zero (drops,
    day boundaries), so only its non-zero entries are summed: no float cumsum over every
    sample that would lose the low bits of large counters."""
    at = np.flatnonzero(x)
    if len(at) == 0:
        return np.zeros(len(x))
    group = np.cumsum(new_group) - 1
    amount = x[at]
    g = group[at]
    cum = np.cumsum(amount)
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    within = cum - np.repeat(cum[starts] - amount[starts], np.diff(np.r_[starts, len(at)]))
    last = np.searchsorted(at, np.arange(len(x)), side="right") - 1
    safe = np.maximum(last, 0)
    return np.where((last >= 0) & (g[safe] == group), within[safe], 0.0)


@dataclass(frozen=True)
class CounterBounds:
    """Raw first and last value of each (series, downsampled day) read."""

    series_id: np.ndarray
    day: np.ndarray
    first: np.ndarray
    last: np.ndarray

    @classmethod
    def concat(cls, parts: list["CounterBounds"]) -> "CounterBounds":
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) if parts else np.zeros(0)
                     for f in ("series_id", "day", "first", "last")))


def stitch_counters(ss: SeriesSet, days: dict[int, int], bounds: CounterBounds) -> SeriesSet:
    """Counter levels continuous across segments: each downsampled day is a segment, each
    run of raw samples between them another. At a boundary the level goes on by the raw
    increase (or, if the raw value dropped, by the new raw value: Prometheus' reset rule)."""
    n = len(ss.timestamps)
    if n == 0 or not days:
        return ss
    series = np.repeat(np.arange(ss.n_series), np.diff(ss.offsets))
    day = ss.timestamps // MS_PER_DAY
    ds_days = np.array(sorted(days), np.int64)
    is_ds = np.isin(day, ds_days)
    seg_key = np.where(is_ds, day, -1)
    new_series = np.r_[True, series[1:] != series[:-1]]
    new_seg = new_series | np.r_[True, seg_key[1:] != seg_key[:-1]]
    starts = np.flatnonzero(new_seg)
    ends = np.r_[starts[1:], n] - 1
    v = ss.values
    first, last = v[starts].copy(), v[ends].copy()  # raw segments: their own first and last
    ds_seg = is_ds[starts]
    if ds_seg.any():
        sid = ss.series_ids[series[starts[ds_seg]]]
        first[ds_seg], last[ds_seg] = _lookup(bounds, sid, day[starts[ds_seg]])
    level_end = v[ends]
    # Segment k continues segment k-1 of the same series: its offset grows by
    # level_end[k-1] + increase(k) - first[k], where increase is first[k] - last[k-1], or
    # first[k] after a drop.
    seg_new_series = new_series[starts]
    prev_last = np.r_[0.0, last[:-1]]
    prev_level = np.r_[0.0, level_end[:-1]]
    increase = np.where(first >= prev_last, first - prev_last, first)
    delta = np.where(seg_new_series, 0.0, prev_level + increase - first)
    delta = np.where(np.isfinite(delta), delta, 0.0)
    offset = grouped_cumsum(delta, seg_new_series)
    values = v + np.repeat(offset, ends - starts + 1)
    return SeriesSet(ss.labels, ss.offsets, ss.timestamps, values, ss.series_ids)


def _lookup(bounds: CounterBounds, sid: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw first/last of (sid, day) pairs; NaN where a pair is unknown."""
    keys = np.rec.fromarrays([bounds.series_id.astype(np.uint64), bounds.day.astype(np.int64)])
    order = np.argsort(keys, order=("f0", "f1"))
    want = np.rec.fromarrays([sid.astype(np.uint64), day.astype(np.int64)])
    pos = np.searchsorted(keys[order], want)
    pos = np.minimum(pos, max(len(order) - 1, 0))
    if len(order) == 0:
        nan = np.full(len(sid), np.nan)
        return nan, nan
    hit = order[pos]
    found = (bounds.series_id[hit] == sid) & (bounds.day[hit] == day)
    return np.where(found, bounds.first[hit], np.nan), np.where(found, bounds.last[hit], np.nan)


@dataclass(frozen=True)
class Selection:
    """What one select read, before counters are stitched (`finish`): readers of parts of
    the data (the querier's own downsampled days, store gateways' raw files) merge first."""

    result: SeriesSet
    days: dict[int, int]
    aggregate: str
    bounds: CounterBounds


def finish(sel: Selection) -> SeriesSet:
    if sel.aggregate == "counter":
        return stitch_counters(sel.result, sel.days, sel.bounds)
    if sel.aggregate == "count":
        return replace(sel.result, counts=True)
    return sel.result
