"""The same data and PromQL on the cluster and on `all` mode give the same answers
(the differential test's data and queries; `all` mode is the reference here)."""
from __future__ import annotations

import httpx
import pytest

from tests.differential import data
from tests.differential.compare import compare_runs, evaluations, run_queries
from tests.differential.load import MYTSDB_PUSH, encode_chunks, push
from tests.differential.queries import load_queries
from tests.fixtures.server import BACKFILL_CONFIG, MytsdbProcess

pytestmark = [pytest.mark.slow, pytest.mark.s3]
TENANT = "differential"


def test_cluster_answers_equal_all_mode(cluster, tmp_path):
    queries = load_queries()
    evals = evaluations(data.INSTANT_TIMES_MS[:2], data.RANGE_WINDOWS[:1])
    bodies = encode_chunks(data.chunks(data.generate()))
    half = len(bodies) // 2
    headers = {"X-Scope-OrgID": TENANT}
    server = MytsdbProcess(tmp_path, BACKFILL_CONFIG).start()
    try:
        push(server.url + MYTSDB_PUSH, bodies[:half], headers)
        server.flush()
        push(server.url + MYTSDB_PUSH, bodies[half:], headers)
        reference = run_queries(server.url, queries, evals, headers, workers=4)
    finally:
        server.kill()
    push(cluster.distributor + MYTSDB_PUSH, bodies[:half], headers)
    for i in (1, 2, 3):
        assert httpx.post(cluster[f"ingester-{i}"].url + "/ingester/flush?wait=true", timeout=120).status_code == 204
    push(cluster.distributor + MYTSDB_PUSH, bodies[half:], headers)
    answers = run_queries(cluster.querier, queries, evals, headers, workers=4)
    report = compare_runs(queries, evals, reference, answers)
    print(report.format(30))
    assert not report.differences, report.summary()
