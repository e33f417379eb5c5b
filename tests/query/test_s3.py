"""The same reads against a real S3 server (SeaweedFS): ranged GETs, never whole files."""
from __future__ import annotations

import dataclasses
import uuid

import pytest

from tests.query.conftest import as_rows, expected, matchers, push
from tests.support import BASE_TS
from tsdb.query import LayoutCache, SelectTrace, StorageSource
from tsdb.tenancy import Tenant

pytestmark = pytest.mark.s3

TENANT = Tenant("s3-team")
STEP = 15_000
N = 40
SERIES = [({"__name__": f"m{i}", "instance": f"i{j}"}, [(BASE_TS + k * STEP, k * 1.5 + j) for k in range(N)])
          for i in range(10) for j in range(10)]
END = BASE_TS + (N - 1) * STEP


def test_select_over_s3_reads_ranges(make_services, s3_server):
    s3 = dataclasses.asdict(s3_server.storage_config(prefix=f"query-{uuid.uuid4().hex[:8]}").s3)
    services = make_services(storage={"backend": "s3", "s3": s3}, ingester={"row_group_rows": 256})
    push(services, TENANT, SERIES[:50])
    services.ingester.flush(TENANT)
    push(services, TENANT, SERIES[50:])  # half in the head
    layouts = LayoutCache()
    source = StorageSource(services, TENANT, layouts=layouts)

    for selector in ['{__name__=~"m[0-9]"}', 'm3{instance="i7"}', '{instance=~"i[12]", __name__!="m9"}']:
        assert as_rows(source.select(matchers(selector), BASE_TS, END)) == expected(SERIES, selector, BASE_TS, END)

    trace = SelectTrace()
    source.select_traced(matchers('m3{instance="i7"}'), BASE_TS, END, trace)
    (f,) = [f for f in trace.files if f.skip is None]
    entry = services.manifests.load(TENANT).files[0]
    assert f.plan.exact and len(f.plan.read) == 1 and f.plan.total == -(-50 * N // 256)
    assert f.requests == 1, "the footer is cached: one get_ranges call for the column chunks"
    assert 0 < f.bytes_fetched < entry.bytes / 4
    assert trace.series == 1 and trace.samples == N

    cold = SelectTrace()
    StorageSource(services, TENANT).select_traced(matchers('m3{instance="i7"}'), BASE_TS, END, cold)
    assert [f.requests for f in cold.files if f.skip is None] == [2]  # footer + column chunks
