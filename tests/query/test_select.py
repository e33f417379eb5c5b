"""StorageSource.select against an in-process Services: matchers, head/bucket states,
window edges, NaN bits, tenant isolation, the series limit."""
from __future__ import annotations

import pytest

from tests.query.conftest import as_rows, expected, matchers, push
from tests.support import BASE_TS, STALE_NAN, bits, make_series
from tsdb.query import StorageSource
from tsdb.query.reader import ParquetReader
from tsdb.tenancy import Tenant

TENANT = Tenant("team-a")
STEP = 15_000
N_POINTS = 40
EXTRA = [  # names that unanchored regexes would wrongly match
    ({"__name__": "upper", "job": "api"}, [(BASE_TS + i * STEP, float(i)) for i in range(N_POINTS)]),
    ({"__name__": "backup_up", "job": "batch"}, [(BASE_TS + i * STEP, 2.0) for i in range(N_POINTS)]),
    ({"__name__": "notes", "job": "api", "note": "multi\nline"}, [(BASE_TS, 3.0)]),
]
SERIES = make_series(n_instances=3, n_points=N_POINTS) + EXTRA
START, END = BASE_TS, BASE_TS + (N_POINTS - 1) * STEP

SELECTORS = [
    'http_requests_total',                                    # =
    '{__name__="up", instance!="10.0.0.1:9100"}',             # !=
    '{__name__=~"rpc_duration_seconds_(sum|count)"}',          # =~ on __name__
    '{__name__!~"rpc.*|up|temperature_celsius", job=~".+"}',  # !~ on __name__
    '{__name__=~"up"}',                                       # anchored: not upper/backup_up
    '{__name__=~"rpc"}',                                      # anchored: matches nothing
    '{__name__=~"up.*"}',                                     # up and upper
    '{note=~"multi.line"}',                                   # `.` matches a newline
    'rpc_duration_seconds_bucket{le=~"0\\\\.1|\\\\+Inf", instance=~"10\\\\.0\\\\.0\\\\.[02]:9100"}',
    '{job="api", code=""}',                                   # empty matches an absent label
    '{job!="api", __name__=~".+"}',
    'http_requests_total{code!~"2.."}',                       # matches nothing
    '{job=~".+", le!=""}',
]


@pytest.fixture(params=["head", "bucket", "both"])
def loaded(request, services):
    """The same data in the head only, in the bucket only, or split across both."""
    if request.param == "head":
        push(services, TENANT, SERIES)
    elif request.param == "bucket":
        push(services, TENANT, SERIES)
        services.ingester.flush(TENANT)
    else:
        half = BASE_TS + N_POINTS // 2 * STEP
        push(services, TENANT, [(l, [s for s in ss if s[0] < half]) for l, ss in SERIES])
        services.ingester.flush(TENANT)
        push(services, TENANT, [(l, [s for s in ss if s[0] >= half]) for l, ss in SERIES])
    return services


@pytest.mark.parametrize("selector", SELECTORS)
def test_matchers(loaded, selector):
    got = as_rows(StorageSource(loaded, TENANT).select(matchers(selector), START, END))
    assert got == expected(SERIES, selector, START, END)


def test_window_edges_are_inclusive(loaded):
    source = StorageSource(loaded, TENANT)
    lo, hi = BASE_TS + 5 * STEP, BASE_TS + 25 * STEP
    for start, end in [(lo, hi), (lo + 1, hi - 1), (lo, lo), (END + 1, END + 10**6), (hi, lo)]:
        got = as_rows(source.select(matchers('{job="api"}'), start, end))
        assert got == expected(SERIES, '{job="api"}', start, end), (start, end)
    ts = as_rows(source.select(matchers("upper"), lo, hi))[(("__name__", "upper"), ("job", "api"))]
    assert ts[0][0] == lo and ts[-1][0] == hi and len(ts) == 21


def test_stale_markers_and_nan_bits(loaded):
    got = as_rows(StorageSource(loaded, TENANT).select(matchers('{__name__=~"up|temperature_celsius"}'), START, END))
    all_bits = {b for samples in got.values() for _, b in samples}
    assert bits(STALE_NAN) == 0x7FF0000000000002 and bits(STALE_NAN) in all_bits
    assert bits(float("nan")) in all_bits
    assert got == expected(SERIES, '{__name__=~"up|temperature_celsius"}', START, END)


def test_resent_samples_collapse_across_head_and_bucket(services):
    push(services, TENANT, SERIES)
    services.ingester.flush(TENANT)
    push(services, TENANT, SERIES)  # accepted again (out-of-order window), now in head and bucket
    assert services.ingester.snapshot(TENANT).samples.num_rows > 0
    got = as_rows(StorageSource(services, TENANT).select(matchers('{job=~".+"}'), START, END))
    assert got == expected(SERIES, '{job=~".+"}', START, END)


def test_tenant_isolation(services):
    other = Tenant("team-ab")  # a prefix of ours would be "team-a"; this one extends it
    push(services, TENANT, SERIES)
    services.ingester.flush(TENANT)
    theirs = [({**l, "owner": "b"}, [(t, -1.0) for t, _ in s]) for l, s in SERIES]
    push(services, other, theirs)
    services.ingester.flush(other)
    push(services, other, [({"__name__": "only_b"}, [(BASE_TS, 1.0)])])  # in B's head only
    for tenant, data in [(TENANT, SERIES), (other, theirs + [({"__name__": "only_b"}, [(BASE_TS, 1.0)])])]:
        got = as_rows(StorageSource(services, tenant).select(matchers('{__name__=~".+"}'), START, END))
        assert got == expected(data, '{__name__=~".+"}', START, END)
    assert as_rows(StorageSource(services, TENANT).select(matchers("only_b"), START, END)) == {}
    assert as_rows(StorageSource(services, Tenant("nobody")).select(matchers('{__name__=~".+"}'), START, END)) == {}


def test_max_series_fails_before_reading_samples(services, monkeypatch):
    push(services, TENANT, SERIES)
    services.ingester.flush(TENANT)
    n = len(expected(SERIES, '{job="api"}', START, END))
    assert as_rows(StorageSource(services, TENANT, max_series=n).select(matchers('{job="api"}'), START, END))

    def no_reading(*args, **kwargs):
        raise AssertionError("samples were read before the series limit was checked")

    monkeypatch.setattr(ParquetReader, "read", no_reading)
    monkeypatch.setattr(ParquetReader, "layout", no_reading)
    with pytest.raises(Exception) as info:
        StorageSource(services, TENANT, max_series=n - 1).select(matchers('{job="api"}'), START, END)
    assert type(info.value).__name__ == "QueryError"
    assert info.value.error_type == "execution"
    assert str(info.value) == (f"the query exceeded the maximum number of series (limit: {n - 1} series) "
                               "(err-mimir-max-series-per-query)")


def test_max_series_counts_head_and_bucket_once(services):
    push(services, TENANT, SERIES)
    services.ingester.flush(TENANT)
    push(services, TENANT, SERIES)  # every series now in both
    n = len(expected(SERIES, '{job="api"}', START, END))
    assert len(StorageSource(services, TENANT, max_series=n).select(matchers('{job="api"}'), START, END).labels) == n
