"""Pruning really skips row groups and files (seen through explain's counts), the
fallback for files whose sidecar is not in row order, and selector windows."""
from __future__ import annotations

import pyarrow as pa
import pytest

from promql import parse
from tests.query.conftest import as_rows, commit_file, expected, head_series_ids, matchers, push
from tests.support import BASE_TS
from tsdb.query import SelectTrace, StorageSource
from tsdb.query.explain import LOOKBACK_MS, explain, selector_windows
from tsdb.tenancy import Tenant

TENANT = Tenant("prune")
STEP = 15_000
N = 40
METRICS = [f"m{i:02d}" for i in range(20)]
SERIES = [({"__name__": m, "instance": f"i{j}", "job": "api"}, [(BASE_TS + k * STEP, float(k + j)) for k in range(N)])
          for m in METRICS for j in range(5)]
END = BASE_TS + (N - 1) * STEP


@pytest.fixture
def small_groups(make_services):
    services = make_services(ingester={"row_group_rows": 64})
    push(services, TENANT, SERIES)
    services.ingester.flush(TENANT)
    return services


def test_one_series_reads_its_row_groups_only(small_groups):
    report = explain(small_groups, TENANT, 'm07{instance="i3"}', END, END)
    (sel,) = report.selectors
    (f,) = sel.trace.files
    total = -(-len(SERIES) * N // 64)
    assert f.skip is None and f.plan.exact and f.plan.total == total
    assert len(f.plan.read) <= 2 and f.rows_read == 64 * len(f.plan.read)  # 40 rows may straddle a boundary
    assert f.plan.skipped_metric > 0 and f.plan.skipped_series > 0
    assert f.plan.skipped_metric + f.plan.skipped_series + f.plan.skipped_time == total - len(f.plan.read)
    assert sel.trace.series == 1 and sel.trace.samples == LOOKBACK_MS // STEP + 1
    text = report.format()
    assert "metric = 'm07'" in text and f"row groups {len(f.plan.read)}/{total} read" in text and "returned: 1 series" in text


def test_regex_selector_prunes_by_series_spans(small_groups):
    trace = SelectTrace()
    got = StorageSource(small_groups, TENANT).select_traced(matchers('{__name__=~"m0[12]", instance="i0"}'),
                                                            BASE_TS, END, trace)
    assert as_rows(got) == expected(SERIES, '{__name__=~"m0[12]", instance="i0"}', BASE_TS, END)
    (f,) = trace.files
    assert f.plan.skipped_metric == 0 and len(f.plan.read) <= 4 and f.plan.skipped_series >= f.plan.total - 4


def test_time_statistics_skip_row_groups_inside_a_long_series(make_services):
    services = make_services(ingester={"row_group_rows": 64})
    long = [({"__name__": "long", "job": "x"}, [(BASE_TS + k * 1000, float(k)) for k in range(640)])]  # one day
    push(services, TENANT, long)
    services.ingester.flush(TENANT)
    lo, hi = BASE_TS + 100_000, BASE_TS + 120_000
    trace = SelectTrace()
    got = StorageSource(services, TENANT).select_traced(matchers("long"), lo, hi, trace)
    assert as_rows(got) == expected(long, "long", lo, hi)
    (f,) = trace.files
    assert f.plan.total == 10 and len(f.plan.read) == 1 and f.plan.skipped_time == 9


def test_files_skipped_by_time_and_by_series(services):
    first = [(l, s[: N // 2]) for l, s in SERIES if l["__name__"] == "m00"]
    second = [(l, s[N // 2:]) for l, s in SERIES if l["__name__"] == "m00"]
    other = [(l, s[N // 2:]) for l, s in SERIES if l["__name__"] == "m01"]
    for batch in (first, second, other):
        push(services, TENANT, batch)
        services.ingester.flush(TENANT)
    push(services, TENANT, [(l, [(END + STEP, 1.0)]) for l, _ in first])  # and some head
    lo = BASE_TS + N // 2 * STEP
    report = explain(services, TENANT, "m00", lo + LOOKBACK_MS, END + STEP)  # window: [lo, END + STEP]
    (sel,) = report.selectors
    assert [f.skip for f in sel.trace.files] == ["time range", None, "no matching series"]
    assert sel.trace.head_series == 5 and sel.trace.head_samples == 5
    text = report.format()
    assert "1 skipped (no matching series)" in text and "1 skipped (time range)" in text
    assert "head: 5 series, 5 samples" in text


def _reversed(table: pa.Table) -> pa.Table:
    return table.take(pa.array(range(table.num_rows - 1, -1, -1)))


def _shifted_counts(table: pa.Table) -> pa.Table:
    """Still sorted, counts still add up, but the spans are off by one row."""
    counts = table.column("samples").to_numpy().copy()
    counts[:-1:2] -= 1
    counts[1::2] += 1
    return table.set_column(table.schema.get_field_index("samples"), "samples", pa.array(counts))


@pytest.mark.parametrize("edit", [_reversed, _shifted_counts])
def test_sidecar_not_describing_rows_falls_back(services, edit):
    push(services, TENANT, [(l, s[:1]) for l, s in SERIES])
    ids = head_series_ids(services, TENANT)
    labels = {ids[tuple(sorted(l.items()))]: list(l.items()) for l, _ in SERIES}
    sids, ts, vals = [], [], []
    for l, samples in SERIES:
        for t, v in samples:
            sids.append(ids[tuple(sorted(l.items()))]), ts.append(t), vals.append(v)
    commit_file(services, TENANT, sids, labels, ts, vals, row_group_rows=64, sidecar_edit=edit)
    for selector in ['m05{instance="i2"}', '{__name__=~"m1.", job="api"}']:
        trace = SelectTrace()
        got = StorageSource(services, TENANT).select_traced(matchers(selector), BASE_TS, END, trace)
        assert as_rows(got) == expected(SERIES, selector, BASE_TS, END)
        (f,) = trace.files
        assert not f.plan.exact


def test_selector_windows():
    s, e = 1_000_000_000, 1_000_600_000
    q = ('rate(a[5m] offset 1m) + b @ 2000 + max_over_time(c[10m:1m] offset 2m) '
         '+ on() group_left sum(d offset -30s) + e @ start() + last_over_time(f[1h] @ end())')
    got = [(w.selector.name, w.start_ms, w.end_ms) for w in selector_windows(parse(q), s, e)]
    assert got == [
        ("a", s - 60_000 - 300_000, e - 60_000),
        ("b", 2_000_000 - LOOKBACK_MS, 2_000_000),
        ("c", s - 120_000 - 600_000 - LOOKBACK_MS, e - 120_000),
        ("d", s + 30_000 - LOOKBACK_MS, e + 30_000),
        ("e", s - LOOKBACK_MS, s),
        ("f", e - 3_600_000, e),
    ]
