"""Differential PromQL test: the same data and queries on MyTSDB and on a real Prometheus.

Prometheus (Debian, 2.42) is the oracle, so MyTSDB runs with `promql.compat: v2`. The data is
`data.py`'s demo-service stand-in; the queries are the compliance list plus `queries.py`'s
extras, each evaluated as instant queries at several times and as range queries at several
steps. `test_prometheus_against_itself` proves the harness can come out clean.
"""
from __future__ import annotations

import os
import time

import pytest

from tests.differential import data
from tests.differential.compare import compare_runs, evaluations, is_empty, run_queries
from tests.differential.load import MYTSDB_PUSH, PROMETHEUS_WRITE, encode_chunks, push
from tests.differential.queries import load_queries
from tests.fixtures.server import BACKFILL_CONFIG, MytsdbProcess

pytestmark = pytest.mark.slow

QUERIES = load_queries()
EVALS = (evaluations(data.FULL_INSTANT_TIMES_MS, data.FULL_RANGE_WINDOWS)
         if os.environ.get("MYTSDB_TEST_FULL") else evaluations(data.INSTANT_TIMES_MS, data.RANGE_WINDOWS))
TENANT = "differential"
MYTSDB_CONFIG = BACKFILL_CONFIG | {"promql": {"compat": "v2"}}
MIN_NON_EMPTY = 0.8


@pytest.fixture(scope="module")
def bodies() -> list[bytes]:
    series = data.generate()
    print(f"\ndifferential data: {data.summary(series)}")
    return encode_chunks(data.chunks(series))


@pytest.fixture(scope="module")
def loaded_prometheus(prometheus_server, bodies):
    t0 = time.monotonic()
    push(prometheus_server.url + PROMETHEUS_WRITE, bodies)
    print(f"prometheus: loaded {len(bodies)} requests in {time.monotonic() - t0:.1f}s")
    return prometheus_server


@pytest.fixture(scope="module")
def prometheus_answers(loaded_prometheus):
    t0 = time.monotonic()
    answers = run_queries(loaded_prometheus.url, QUERIES, EVALS)
    print(f"prometheus: {len(answers)} evaluations in {time.monotonic() - t0:.1f}s")
    return answers


def test_data_covers_queries(prometheus_answers):
    """The data feeds the queries: most return something, and should_fail ones fail."""
    wanted = [q for q in QUERIES if not q.should_fail]
    empty = [q.text for q in wanted if all(is_empty(prometheus_answers[(q.text, e)]) for e in EVALS)]
    ratio = 1 - len(empty) / len(wanted)
    n_evals = len(wanted) * len(EVALS)
    eval_ratio = sum(not is_empty(prometheus_answers[(q.text, e)]) for q in wanted for e in EVALS) / n_evals
    print(f"non-empty on Prometheus: {ratio:.1%} of {len(wanted)} queries, {eval_ratio:.1%} of {n_evals} evaluations"
          f"; always empty: {empty[:10]}{' ...' if len(empty) > 10 else ''}")
    assert ratio >= MIN_NON_EMPTY
    # A should_fail query may still succeed where the data makes it valid (e.g. a label_replace
    # that collides only while two instances report), so require one failure, not all.
    never_failed = [q.text for q in QUERIES if q.should_fail
                    and all(prometheus_answers[(q.text, e)].ok for e in EVALS)]
    assert not never_failed, f"should_fail queries that Prometheus always answered: {never_failed}"


def test_prometheus_against_itself(loaded_prometheus, prometheus_answers):
    """The harness self-check: a second run on the same Prometheus has no differences."""
    again = run_queries(loaded_prometheus.url, QUERIES, EVALS)
    report = compare_runs(QUERIES, EVALS, prometheus_answers, again)
    print(report.format(30))
    n_differences = len(report.differences)
    assert n_differences == 0, report.summary()


def test_mytsdb_matches_prometheus(tmp_path, prometheus_answers, bodies):
    server = MytsdbProcess(tmp_path, MYTSDB_CONFIG).start()
    try:
        t0 = time.monotonic()
        # The first half goes to Parquet, the second stays in the head: queries span both.
        half = len(bodies) // 2
        push(server.url + MYTSDB_PUSH, bodies[:half], {"X-Scope-OrgID": TENANT})
        server.flush()
        push(server.url + MYTSDB_PUSH, bodies[half:], {"X-Scope-OrgID": TENANT})
        print(f"mytsdb: loaded {len(bodies)} requests in {time.monotonic() - t0:.1f}s")
        t0 = time.monotonic()
        answers = run_queries(server.url, QUERIES, EVALS, {"X-Scope-OrgID": TENANT}, workers=4, progress="mytsdb")
        print(f"mytsdb: {len(answers)} evaluations in {time.monotonic() - t0:.1f}s")
    finally:
        server.kill()
    report = compare_runs(QUERIES, EVALS, prometheus_answers, answers)
    print(report.format(30))
    n_differences = len(report.differences)
    assert n_differences == 0, report.summary()

