"""Bit-exact parity with Prometheus where the differential test against Prometheus 2.42 found
differences: float rounding in rate()/histogram_quantile(), and the int64 check of topk's k."""
from __future__ import annotations

import math

import numpy as np
import pytest

from promql.engine import Engine, EngineOptions, QueryError
from promql.engine.histograms import _bucket_quantile
from promql.engine.rate import go_seconds

V2 = Engine(EngineOptions(compat="v2"))
V3 = Engine()

HIST = "demo_api_request_duration_seconds_bucket"
# The series and step where MyTSDB gave 0.5 and Prometheus 2.42 1.0000000000000024.
DIFF_AT_MS = 1_704_075_150_000
DIFF_SERIES = {"instance": "demo.promlabs.com:10000", "method": "GET", "path": "/api/bar", "status": "500"}


def _differential_buckets(start_ms: int, end_ms: int) -> list[tuple[dict[str, str], list[tuple[int, float]]]]:
    """The bucket series of DIFF_SERIES from the differential test's data, within [start, end]."""
    from tests.differential.data import generate

    out = []
    for labels, samples in generate():
        if labels["__name__"] == HIST and all(labels[k] == v for k, v in DIFF_SERIES.items()):
            out.append((labels, [(t, v) for t, v in samples if start_ms <= t <= end_ms]))
    assert len(out) == 10
    return out


def _go_extrapolated_rate(samples, range_ms: int, end_ms: int, is_counter: bool, is_rate: bool, v2: bool) -> float:
    """Prometheus' extrapolatedRate for float samples, statement by statement (2.42 / 3.x)."""
    (t0, v0), (tn, vn) = samples[0], samples[-1]
    result = vn - v0
    if is_counter:
        prev = v0
        for _, v in samples[1:]:
            if v < prev:
                result += prev
            prev = v
    to_start = (t0 - (end_ms - range_ms)) / 1000
    to_end = (end_ms - tn) / 1000
    sampled = (tn - t0) / 1000
    avg = sampled / (len(samples) - 1)
    threshold = avg * 1.1
    interval = sampled
    if v2:
        if is_counter and result > 0 and v0 >= 0 and sampled * (v0 / result) < to_start:
            to_start = sampled * (v0 / result)
        interval += to_start if to_start < threshold else avg / 2
    else:
        if to_start >= threshold:
            to_start = avg / 2
        if is_counter and result > 0 and v0 >= 0 and sampled * (v0 / result) < to_start:
            to_start = sampled * (v0 / result)
        interval += to_start
    interval += to_end if to_end < threshold else avg / 2
    factor = interval / sampled
    if is_rate:
        factor /= range_ms / 1000
    return result * factor


def test_histogram_quantile_of_rates_matches_prometheus_2_42(promql_source_factory) -> None:
    src = promql_source_factory(_differential_buckets(DIFF_AT_MS - 5 * 60_000, DIFF_AT_MS + 3 * 60_000))
    query = f"histogram_quantile(0.90, rate({HIST}[1m]))"
    got = V2.instant(src, query, DIFF_AT_MS).vector
    assert len(got) == 1 and got[0].value == 1.0000000000000024
    # In the differential's 15s-step range query (same step grid as 1704071700 .. 1704075300).
    res = V2.range(src, query, DIFF_AT_MS - 4 * 15_000, DIFF_AT_MS + 15_000, 15_000).matrix
    ts = list(res[0].timestamps)
    assert res[0].values[ts.index(DIFF_AT_MS)] == 1.0000000000000024


def test_rate_sums_extrapolation_in_prometheus_order(promql_source_factory) -> None:
    """extrapolateToInterval = (sampled + toStart) + toEnd, not sampled + (toStart + toEnd):
    for the +Inf bucket at DIFF_AT_MS the two differ in the last bit, enough to move the
    0.9 rank past the le=1 bucket's count."""
    series = [s for s in _differential_buckets(DIFF_AT_MS - 60_000, DIFF_AT_MS) if s[0]["le"] == "+Inf"]
    src = promql_source_factory(series)
    for engine, v2, lo in ((V2, True, DIFF_AT_MS - 60_000), (V3, False, DIFF_AT_MS - 60_000 + 1)):
        want = _go_extrapolated_rate([s for s in series[0][1] if s[0] >= lo], 60_000, DIFF_AT_MS, True, True, v2)
        got = engine.instant(src, f"rate({HIST}[1m])", DIFF_AT_MS).vector[0].value
        assert got == want


@pytest.mark.parametrize("v2", [True, False])
def test_counter_resets_added_one_by_one(promql_source_factory, v2: bool) -> None:
    """resultValue += prevValue per reset, in order: (d + c1) + c2 rounds differently from
    d + (c1 + c2) for these values."""
    values = [0.0, 0.2, 0.0, 0.3, 0.0, 0.05, 0.1]
    assert (0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3)
    samples = [(i * 10_000, v) for i, v in enumerate(values)]
    src = promql_source_factory([({"__name__": "c"}, samples)])
    engine = V2 if v2 else V3
    for fn, is_rate in (("increase", False), ("rate", True)):
        for end in (60_000, 65_000):
            window = [s for s in samples if (s[0] >= end - 60_000 if v2 else s[0] > end - 60_000) and s[0] <= end]
            want = _go_extrapolated_rate(window, 60_000, end, True, is_rate, v2)
            got = engine.instant(src, f"{fn}(c[1m])", end).vector[0].value
            assert got == want, (fn, end)


def test_go_seconds_matches_duration_seconds() -> None:
    assert go_seconds(60_000) == 60.0
    assert go_seconds(1_234) == 1.0 + 234_000_000 / 1e9


def test_bucket_quantile_v2_keeps_nan_counts_like_ensure_monotonic() -> None:
    """2.42's ensureMonotonic leaves a NaN count alone (NaN compares false both ways), and
    sort.Search's binary search then skips past it: b lands on le=4, whose count minus the NaN
    below is NaN. A linear scan would stop at le=1 (0.8333...)."""
    ub = np.array([1.0, 2.0, 4.0, np.inf])
    counts = np.array([[3.0], [np.nan], [4.0], [10.0]])
    for v2 in (True, False):
        got = _bucket_quantile(np.array([0.25]), ub, counts.copy(), v2)
        assert math.isnan(got[0])
    # Monotonic columns are unaffected: rank 5 falls in le=2, (5-3)/(5-3) of the way.
    got = _bucket_quantile(np.array([0.5]), ub, np.array([[3.0], [5.0], [8.0], [10.0]]), True)
    assert got[0] == 2.0


def test_bucket_quantile_v2_running_max_and_v3_small_deltas() -> None:
    ub = np.array([1.0, 2.0, 4.0, np.inf])
    # v2: raised to the running maximum (3, 3, 8, 10): rank 4 falls in le=4.
    got = _bucket_quantile(np.array([0.4]), ub, np.array([[3.0], [2.0], [8.0], [10.0]]), True)
    assert got[0] == 2.0 + 2.0 * ((4.0 - 3.0) / (8.0 - 3.0))
    # v3: almost.Equal(prev, curr, 1e-12) is |a-b| / (|a|+|b|) < 1e-12; a relative difference of
    # 1.5e-12 (0.75e-12 of the sum) is ignored, 2.5e-12 (1.25e-12 of the sum) is kept. The rank
    # falls between the two counts: ignored, it passes le=4 (result: le=4); kept, it is inside.
    for rel, fixed in ((1.5e-12, True), (2.5e-12, False)):
        c2 = 5.0 * (1 + rel)
        counts = np.array([[3.0], [5.0], [c2], [10.0]])
        got = _bucket_quantile(np.array([0.5 * (1 + rel / 2)]), ub, counts, False)[0]
        assert (got == 4.0) if fixed else (2.0 < got < 4.0), (rel, got)


def _param_series(values: list[float]):
    return ({"__name__": "p"}, [(i * 60_000, v) for i, v in enumerate(values)])


def _m_series():
    return [({"__name__": "m", "a": str(i)}, [(t * 60_000, float(i + t)) for t in range(6)]) for i in range(3)]


def _error(engine: Engine, src, query: str, start: int, end: int) -> str | None:
    try:
        engine.range(src, query, start, end, 60_000)
    except QueryError as e:
        assert e.error_type == "execution"
        return e.message
    return None


def test_topk_k_must_fit_int64_at_every_step_v2(promql_source_factory) -> None:
    """Prometheus 2.42 checks k in aggregation(), which runs at every step, input or not."""
    src = promql_source_factory(_m_series() + [_param_series([2.0, 2.0, 2.0])])
    q = "topk(scalar(p), m)"
    # p ends at 2m (lookback 5m): scalar(p) is NaN from 8m on.
    assert _error(V2, src, q, 0, 300_000) is None
    assert _error(V2, src, q, 0, 600_000) == "Scalar value NaN overflows int64"
    # No input series at all still checks k.
    assert _error(V2, src, "bottomk(scalar(p), nonexistent)", 0, 600_000) == "Scalar value NaN overflows int64"
    assert _error(V2, src, "topk(1e19, m)", 0, 0) == "Scalar value 1e+19 overflows int64"
    assert _error(V2, src, "topk(-Inf, m)", 0, 0) == "Scalar value -Inf overflows int64"
    assert _error(V2, src, "topk(9223372036854774784, m)", 0, 0) is None
    assert _error(V2, src, "topk(-9223372036854775808, m)", 0, 0) is None
    # The first failing step names the value.
    src2 = promql_source_factory(_m_series() + [_param_series([1.0, 1e20, -1e21])])
    assert _error(V2, src2, "topk(scalar(p), m)", 0, 120_000) == "Scalar value 1e+20 overflows int64"


def test_topk_k_checks_in_v3(promql_source_factory) -> None:
    """Prometheus 3 checks all steps' k up front (rangeEvalAgg): no check when every k < 1,
    else NaN, then min <= minInt64 ("underflows"), then max >= maxInt64 ("overflows")."""
    src = promql_source_factory(_m_series() + [_param_series([2.0, 2.0, 2.0])])
    assert _error(V3, src, "topk(scalar(p), m)", 0, 600_000) == "Parameter value is NaN"
    assert _error(V3, src, "limitk(scalar(p), nonexistent)", 0, 600_000) == "Parameter value is NaN"
    assert _error(V3, src, "topk(-1e19, m)", 0, 0) is None
    assert _error(V3, src, "topk(1e19, m)", 0, 0) == "Scalar value 1e+19 overflows int64"
    assert _error(V3, src, "topk(9223372036854774784, m)", 0, 0) == \
        "Scalar value 9.223372036854775e+18 overflows int64"
    src2 = promql_source_factory(_m_series() + [_param_series([1.0, -1e20, 1e21])])
    assert _error(V3, src2, "topk(scalar(p), m)", 0, 120_000) == "Scalar value -1e+20 underflows int64"
    assert _error(V3, src2, "topk(scalar(p), m)", 0, 60_000) == "Scalar value -1e+20 underflows int64"
    assert _error(V3, src2, "topk(scalar(p), m)", 60_000, 60_000) is None  # max < 1: empty, no check


def test_stddev_of_a_lone_nan_member(promql_source_factory) -> None:
    """Prometheus 2.x starts each stddev/stdvar group at 0, so a group whose only member is
    NaN answers 0; Prometheus 3 answers NaN."""
    from promql.engine import Engine, EngineOptions

    src = promql_source_factory([({"__name__": "m", "i": "a"}, [(0, float("nan"))]),
                                 ({"__name__": "m", "i": "b"}, [(0, 2.0)])])
    for compat, want in (("v2", 0.0), ("v3", None)):
        res = Engine(EngineOptions(compat=compat)).instant(src, "stddev by (i) (m)", 0)
        got = {s.labels["i"]: s.value for s in res.vector}
        assert got["b"] == 0.0
        assert (got["a"] == 0.0) if want == 0.0 else math.isnan(got["a"])
