"""Every query in Prometheus' engine tests and the compliance suite parses and round-trips.

The data lives outside the repository (`$MYTSDB_CONFORMANCE_DIR`, default
`../shared/conformance`, see its SOURCES.md); the tests skip when it is absent.
"""
from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from promql import ParseError, format_expr, parse

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE_DIR = Path(os.environ.get("MYTSDB_CONFORMANCE_DIR", ROOT.parent / "shared" / "conformance"))
TEST_DIRS = ("promqltest-v2.42.0", "promqltest-latest")
EVAL = re.compile(r"^\s*(eval(?:_ordered|_fail|_warn|_info)?)\s+"
                  r"(?:instant\s+at\s+\S+|range\s+from\s+\S+\s+to\s+\S+\s+step\s+\S+)\s+(.+?)\s*$")

# Queries we knowingly cannot parse, with the reason. Every construct in the current
# test files is supported (fill modifiers, duration expressions, anchored/smoothed,
# info() included), so this is empty; add "<file>:<line>": "reason" entries here.
KNOWN_UNSUPPORTED: dict[str, str] = {}


@dataclass(frozen=True)
class Query:
    source: str
    text: str
    may_fail: bool  # eval_fail / `expect fail` / compliance should_fail: errors may come from the parser


def _engine_queries() -> list[Query]:
    queries = []
    for folder in TEST_DIRS:
        for path in sorted((CONFORMANCE_DIR / folder).glob("*.test")):
            lines = path.read_text(encoding="utf-8").splitlines()
            for i, line in enumerate(lines):
                m = EVAL.match(line)
                if not m:
                    continue
                following = lines[i + 1].strip() if i + 1 < len(lines) else ""
                may_fail = m.group(1) == "eval_fail" or following.startswith("expect fail")
                queries.append(Query(f"{folder}/{path.name}:{i + 1}", m.group(2), may_fail))
    return queries


def _compliance_queries() -> list[Query]:
    base = CONFORMANCE_DIR / "compliance"
    cases = yaml.safe_load((base / "promql-test-queries.yml").read_text(encoding="utf-8"))["test_cases"]
    variants = yaml.safe_load((base / "variants.yml").read_text(encoding="utf-8"))
    queries = []
    for n, case in enumerate(cases):
        names = case.get("variant_args") or []
        for combo in itertools.product(*(variants[name] for name in names)):
            text = case["query"]
            for name, value in zip(names, combo):
                text = text.replace("{{." + name + "}}", value)
            queries.append(Query(f"compliance#{n}", text, bool(case.get("should_fail"))))
    return queries


def _params(loader) -> list:  # type: ignore[no-untyped-def]
    if not CONFORMANCE_DIR.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no conformance data at {CONFORMANCE_DIR}"))]
    params = []
    for q in loader():
        marks = []
        if q.source in KNOWN_UNSUPPORTED:
            marks.append(pytest.mark.xfail(reason=KNOWN_UNSUPPORTED[q.source], strict=True))
        params.append(pytest.param(q, id=q.source, marks=marks))
    return params


def _check_round_trip(q: Query) -> None:
    try:
        expr = parse(q.text)
    except ParseError:
        if q.may_fail:
            return
        raise
    printed = format_expr(expr)
    assert parse(printed) == expr, f"{q.text!r} printed as {printed!r}"
    assert format_expr(parse(printed)) == printed


@pytest.mark.parametrize("query", _params(_engine_queries))
def test_engine_test_queries(query: Query) -> None:
    _check_round_trip(query)


@pytest.mark.parametrize("query", _params(_compliance_queries))
def test_compliance_queries(query: Query) -> None:
    _check_round_trip(query)


@pytest.mark.skipif(not CONFORMANCE_DIR.is_dir(), reason="no conformance data")
def test_conformance_data_is_complete() -> None:
    """Guard against a silently empty run (e.g. a moved directory or changed format)."""
    assert len(_engine_queries()) > 2500
    assert len(_compliance_queries()) > 500
