"""Unit tests of the engine's core kernels: lookback/staleness, rate extrapolation, matching errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

from promql.engine import Engine, EngineOptions, QueryError
from promql.engine.kernels import group_ranks, kahan_inc, sorted_quantile, window_reduce
from promql.engine.selectors import instant_select, is_stale, locate
from tests.promql.engine.promqltest import STALE_NAN

V2 = Engine(EngineOptions(compat="v2"))
V3 = Engine()


def _series(name: str, samples: list[tuple[int, float]], **labels: str):
    return ({"__name__": name, **labels}, samples)


def test_locate_matches_per_series_searchsorted() -> None:
    offsets = np.array([0, 3, 3, 5])
    ts = np.array([10, 20, 30, 5, 25])
    times = np.array([0, 20, 40])
    got = locate(offsets, ts, times, "right")
    assert got.tolist() == [[0, 2, 3], [3, 3, 3], [3, 4, 5]]


def test_lookback_window_is_left_open_in_v3_and_closed_in_v2() -> None:
    offsets, ts, vals = np.array([0, 1]), np.array([0]), np.array([1.0])
    times = np.array([300_000])
    _, present_v3, _ = instant_select(offsets, ts, vals, times, 300_000, left_open=True)
    _, present_v2, _ = instant_select(offsets, ts, vals, times, 300_000, left_open=False)
    assert not present_v3[0, 0] and present_v2[0, 0]


def test_stale_marker_ends_series(promql_source_factory) -> None:
    src = promql_source_factory([_series("m", [(0, 1.0), (10_000, STALE_NAN), (20_000, 2.0)])])
    assert is_stale(np.array([STALE_NAN]))[0]
    assert V3.instant(src, "m", 15_000).vector == []
    assert V3.instant(src, "m", 20_000).vector[0].value == 2.0
    assert V3.instant(src, "count_over_time(m[1m])", 30_000).vector[0].value == 2.0


def test_rate_extrapolates_to_window_edges(promql_source_factory) -> None:
    src = promql_source_factory([_series("c", [(t * 15_000, float(t)) for t in range(41)])])
    r = V3.instant(src, "rate(c[5m])", 600_000).vector[0].value
    assert r == pytest.approx(1 / 15)
    inc = V3.instant(src, "increase(c[5m])", 600_000).vector[0].value
    assert inc == pytest.approx(20.0)


def test_rate_handles_counter_reset(promql_source_factory) -> None:
    values = [0, 10, 20, 5, 15]
    src = promql_source_factory([_series("c", [(i * 60_000, float(v)) for i, v in enumerate(values)])])
    # 0->20 then reset to 5 -> 15: increase 20 + 15 = 35 over 4 minutes, extrapolated to 4m+.
    got = V2.instant(src, "increase(c[4m])", 240_000).vector[0].value
    assert got == pytest.approx(35.0)


def test_kahan_sum_keeps_small_terms() -> None:
    s, c = np.zeros(1), np.zeros(1)
    for v in (1e100, 1.0, -1e100):
        s, c = kahan_inc(np.array([v]), s, c)
    assert (s + c)[0] == 1.0


def test_window_reduce_overlapping_windows() -> None:
    arr = np.array([1.0, 5.0, 3.0, 2.0])
    lo, hi = np.array([0, 1, 2, 4]), np.array([2, 4, 4, 4])
    got = window_reduce(np.fmax, arr, lo, hi)
    assert got[:3].tolist() == [5.0, 5.0, 3.0] and math.isnan(got[3])


def test_sorted_quantile_nan_first() -> None:
    vals = np.array([[np.nan, 1.0, 2.0]])
    got = sorted_quantile(vals, np.ones_like(vals, bool), np.array([1.0]))
    assert got[0] == 2.0


def test_group_ranks_cover_each_row_once() -> None:
    gid = np.array([0, 1, 0, 2, 0])
    seen = np.concatenate([rows for rows, _ in group_ranks(gid)])
    assert sorted(seen.tolist()) == [0, 1, 2, 3, 4]


def test_many_to_many_error(promql_source_factory) -> None:
    src = promql_source_factory([
        _series("a", [(0, 1.0)], job="x"),
        _series("b", [(0, 1.0)], job="x", i="1"),
        _series("b", [(0, 2.0)], job="x", i="2"),
    ])
    with pytest.raises(QueryError) as exc:
        V3.instant(src, "a + on(job) b", 0)
    assert "found duplicate series for the match group {job=\"x\"} on the right hand-side" in exc.value.message
    assert exc.value.message.endswith("many-to-many matching not allowed: matching labels must be unique on one side")
    with pytest.raises(QueryError, match="many-to-one matching must be explicit"):
        V3.instant(src, "b + on(job) a", 0)
    assert len(V3.instant(src, "b + on(job) group_left a", 0).vector) == 2


def test_same_labelset_error(promql_source_factory) -> None:
    src = promql_source_factory([_series("a", [(0, 1.0)], job="x"), _series("b", [(0, 1.0)], job="x")])
    with pytest.raises(QueryError, match="vector cannot contain metrics with the same labelset"):
        V2.instant(src, "-{job='x'}", 0)
    with pytest.raises(QueryError, match="vector cannot contain metrics with the same labelset"):
        V3.instant(src, "-{job='x'}", 0)


def test_range_query_of_scalar_is_matrix(promql_source_factory) -> None:
    res = V3.range(promql_source_factory([]), "1 + 1", 0, 120_000, 60_000)
    assert res.result_type == "matrix" and res.matrix[0].values.tolist() == [2.0, 2.0, 2.0]


def test_holt_winters_only_in_v2(promql_source_factory) -> None:
    from promql import ParseError

    src = promql_source_factory([_series("m", [(0, 1.0), (60_000, 2.0)])])
    assert V2.instant(src, "holt_winters(m[5m], 0.5, 0.5)", 60_000).vector
    with pytest.raises(ParseError):
        V3.instant(src, "holt_winters(m[5m], 0.5, 0.5)", 60_000)
