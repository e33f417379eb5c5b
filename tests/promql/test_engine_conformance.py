"""Prometheus' engine test files (`*.test`) run against our engine, one test per file.

The data lives outside the repository (`$MYTSDB_CONFORMANCE_DIR`, default
`../shared/conformance`); the tests skip when it is absent. v2.42 files run with
compat "v2", the latest files with "v3". Every eval is checked the way Prometheus'
runner checks it, and each instant eval is re-run as a range query over [t-1m, t+1m]
(step 1m) whose middle step must match. Annotations are not compared.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from promql import ParseError
from promql.engine import Engine, EngineOptions, QueryError
from tests.promql.engine.conformance_summary import CONFORMANCE_KEY
from tests.promql.engine.promqltest import (
    EvalCase, almost_equal, compare_matrix, compare_vector, parse_file,
)
from tests.promql.engine.conformance_lists import V2_XFAIL, V3_SKIP, V3_XFAIL

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE_DIR = Path(os.environ.get("MYTSDB_CONFORMANCE_DIR", ROOT.parent / "shared" / "conformance"))
SUITES = {"v2": "promqltest-v2.42.0", "v3": "promqltest-latest"}


def _files() -> list[tuple[str, Path]]:
    out = []
    for compat, sub in SUITES.items():
        d = CONFORMANCE_DIR / sub
        if d.is_dir():
            out.extend((compat, p) for p in sorted(d.glob("*.test")))
    return out


FILES = _files()


def run_eval(engine: Engine, source, case: EvalCase) -> str | None:
    """None if the eval passes, else why not."""
    try:
        if case.is_range:
            res = engine.range(source, case.expr, case.start_ms, case.end_ms, case.step_ms)
        else:
            res = engine.instant(source, case.expr, case.time_ms)
    except (QueryError, ParseError) as exc:
        if not case.fail:
            return f"unexpected error: {exc}"
        text = str(exc)
        if case.fail_msg is not None and case.fail_msg != text:
            return f"expected error {case.fail_msg!r}, got {text!r}"
        if case.fail_regex is not None and not re.search(case.fail_regex, text):
            return f"expected error matching {case.fail_regex!r}, got {text!r}"
        return None
    if case.fail:
        return "expected an error, got none"
    if case.is_range:
        got = [(s.labels, list(s.timestamps), list(s.values)) for s in res.matrix]
        return compare_matrix(case, got, case.start_ms, case.step_ms)
    problem = _compare_instant(case, res)
    if problem or case.ordered or res.result_type in ("string", "matrix"):
        return problem
    t = case.time_ms
    rng = engine.range(source, case.expr, t - 60_000, t + 60_000, 60_000)
    middle = [(s.labels, float(s.values[list(s.timestamps).index(t)])) for s in rng.matrix if t in list(s.timestamps)]
    if res.result_type == "scalar":
        if not middle or not almost_equal(case.scalar, middle[0][1]):
            return f"range mode: expected scalar {case.scalar}, got {middle}"
        return None
    problem = compare_vector(case, middle, ordered=False)
    return f"range mode: {problem}" if problem else None


def _compare_instant(case: EvalCase, res) -> str | None:
    if case.string is not None:
        if res.result_type != "string" or res.string[1] != case.string:
            return f"expected string {case.string!r}, got {res.result_type} {res.string}"
        return None
    if case.range_vector is not None:
        if res.result_type != "matrix":
            return f"expected a range vector, got {res.result_type}"
        start, _, step = case.range_vector
        got = [(s.labels, list(s.timestamps), list(s.values)) for s in res.matrix]
        return compare_matrix(case, got, start, step)
    if case.scalar is not None:
        if res.result_type != "scalar" or not almost_equal(case.scalar, res.scalar[1]):
            return f"expected scalar {case.scalar}, got {res.result_type} {res.scalar} {res.vector}"
        return None
    if res.result_type not in ("vector",):
        if res.result_type == "matrix" and not case.expected and not res.matrix:
            return None
        return f"expected a vector, got {res.result_type}"
    return compare_vector(case, [(s.labels, s.value) for s in res.vector], case.ordered)


def run_file(compat: str, path: Path, factory) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """(passed, failed (name, reason), skipped (name, reason))."""
    engine = Engine(EngineOptions(compat=compat))
    passed, failed, skipped = [], [], []
    for seg in parse_file(path):
        source = factory(seg.series) if seg.evals else None
        for case in seg.evals:
            if compat == "v3" and case.name in V3_SKIP:
                skipped.append((case.name, V3_SKIP[case.name]))
                continue
            try:
                problem = run_eval(engine, source, case)
            except Exception as exc:  # an engine bug must not hide the other evals
                problem = f"crash: {type(exc).__name__}: {exc}"
            if problem is None:
                passed.append(case.name)
            else:
                failed.append((case.name, f"{case.expr}: {problem}"))
    return passed, failed, skipped


@pytest.mark.skipif(not FILES, reason=f"conformance data not found under {CONFORMANCE_DIR}")
@pytest.mark.parametrize("compat,path", FILES, ids=[f"{c}-{p.name}" for c, p in FILES] or None)
def test_conformance_file(compat: str, path: Path, promql_source_factory, request) -> None:
    passed, failed, skipped = run_file(compat, path, promql_source_factory)
    xfail = V2_XFAIL if compat == "v2" else V3_XFAIL
    summary = request.config.stash.setdefault(CONFORMANCE_KEY, {})
    suite = summary.setdefault(compat, {"passed": 0, "total": 0, "skipped": 0, "skip_reasons": []})
    suite["passed"] += len(passed)
    suite["total"] += len(passed) + len(failed) + len(skipped)
    suite["skipped"] += len(skipped)
    suite["skip_reasons"].extend(r.split(":")[0] for _, r in skipped)
    unexpected = [f"{name}: {why}" for name, why in failed if name not in xfail]
    now_passing = [name for name in passed if name in xfail]
    assert not unexpected, f"{len(unexpected)} evals failed:\n" + "\n".join(unexpected)
    assert not now_passing, "xfail entries now pass, remove them: " + ", ".join(now_passing)
    if any(name in xfail for name, _ in failed):
        pytest.xfail(f"{sum(name in xfail for name, _ in failed)} known failures (see conformance_lists.py)")
