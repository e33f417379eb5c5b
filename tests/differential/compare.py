"""Run queries on two Prometheus-compatible servers and report where the answers differ.

An answer matches when it has the same result type, the same label sets, exactly the same
timestamps, and values equal within 1e-6 relative (NaN equals NaN, ±Inf equal themselves).
Where the reference errors, the other side must error with the same errorType; the message is
free. Order matters only in instant vectors of queries that ask for it (sort, sort_desc);
range results are sets of series. Warnings are ignored.
"""
from __future__ import annotations

import math
import re
import sys
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from tests.fixtures.prometheus import QueryAnswer, promql_query, seconds
from tests.differential.queries import Query

EPSILON = 1e-6
MIN_NORMAL = 2.2250738585072014e-308
MAX_DETAILS = 4  # per (query, evaluation); the rest are counted


@dataclass(frozen=True)
class Evaluation:
    """One way to run a query: instant at `time_ms`, or range over [start_ms, end_ms] by `step`."""

    time_ms: int | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    step: str | None = None

    @property
    def label(self) -> str:
        if self.step is None:
            return f"instant@{seconds(self.time_ms)}"
        return f"range[{seconds(self.start_ms)},{seconds(self.end_ms)}]/{self.step}"

    def kwargs(self) -> dict:
        if self.step is None:
            return {"time_ms": self.time_ms}
        return {"start_ms": self.start_ms, "end_ms": self.end_ms, "step": self.step}


def evaluations(instant_times: tuple[int, ...], range_windows: tuple[tuple[int, int, str], ...]) -> list[Evaluation]:
    return ([Evaluation(time_ms=t) for t in instant_times]
            + [Evaluation(start_ms=s, end_ms=e, step=step) for s, e, step in range_windows])


Answers = dict[tuple[str, Evaluation], QueryAnswer]


def run_queries(url: str, queries: list[Query], evals: list[Evaluation], headers: dict | None = None,
                workers: int = 8, progress: str | None = None) -> Answers:
    """Every query at every evaluation, `workers` at a time."""
    jobs = [(q.text, e) for q in queries for e in evals]
    out: Answers = {}
    with httpx.Client(headers=headers or {}, timeout=120) as client, ThreadPoolExecutor(workers) as pool:
        futures = {pool.submit(promql_query, url, text, client=client, **e.kwargs()): (text, e) for text, e in jobs}
        for n, fut in enumerate(futures, 1):
            out[futures[fut]] = fut.result()
            if progress and n % 1000 == 0:
                print(f"  {progress}: {n}/{len(jobs)} queries", file=sys.stderr, flush=True)
    return out


# --- comparing one answer ---------------------------------------------------------------

def values_equal(a: float, b: float) -> bool:
    """As Prometheus' own test runner: NaN == NaN, exact for ±Inf, else 1e-6 relative."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    if math.isinf(a) or math.isinf(b):
        return False
    diff = abs(a - b)
    if a == 0 or b == 0 or diff < MIN_NORMAL:
        return diff < EPSILON * MIN_NORMAL
    return diff / (abs(a) + abs(b)) < EPSILON


Point = tuple[int, str]  # (ms, value as the API wrote it)
SeriesKey = tuple[tuple[str, str], ...]


def _ms(ts: float) -> int:
    return round(float(ts) * 1000)


def _series(answer: QueryAnswer) -> list[tuple[SeriesKey, list[Point]]]:
    """Vector and matrix results as (sorted labels, points), in the answer's order."""
    out = []
    for s in answer.result or []:
        key = tuple(sorted((s.get("metric") or {}).items()))
        points = [s["value"]] if "value" in s else (s.get("values") or [])
        out.append((key, [(_ms(t), v) for t, v in points]))
    return out


def _fmt(key: SeriesKey) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in key) + "}"


def _compare_points(key: SeriesKey, exp: list[Point], act: list[Point]) -> list[str]:
    if [t for t, _ in exp] != [t for t, _ in act]:
        missing = sorted({t for t, _ in exp} - {t for t, _ in act})
        extra = sorted({t for t, _ in act} - {t for t, _ in exp})
        return [f"{_fmt(key)}: timestamps differ ({len(exp)} vs {len(act)} points; "
                f"missing {[seconds(t) for t in missing[:3]]}, extra {[seconds(t) for t in extra[:3]]})"]
    bad = [(t, e, a) for (t, e), (_, a) in zip(exp, act) if not values_equal(float(e), float(a))]
    if not bad:
        return []
    t, e, a = bad[0]
    more = f" (+{len(bad) - 1} more points)" if len(bad) > 1 else ""
    return [f"{_fmt(key)} @{seconds(t)}: expected {e}, got {a}{more}"]


def compare_answers(expected: QueryAnswer, actual: QueryAnswer, ordered: bool = False) -> list[str]:
    """Why `actual` differs from the reference `expected`; empty when they match."""
    if not expected.ok:
        if actual.ok:
            return [f"expected error {expected.error_type} ({expected.error}), got success"]
        if actual.error_type != expected.error_type:
            return [f"expected error {expected.error_type} ({expected.error}), "
                    f"got {actual.error_type} ({actual.error})"]
        return []
    if not actual.ok:
        return [f"unexpected error {actual.error_type}: {actual.error}"]
    if expected.result_type != actual.result_type:
        return [f"result type: expected {expected.result_type}, got {actual.result_type}"]
    if expected.result_type in ("scalar", "string"):
        (te, ve), (ta, va) = expected.result, actual.result
        if _ms(te) != _ms(ta):
            return [f"timestamp: expected {te}, got {ta}"]
        same = ve == va if expected.result_type == "string" else values_equal(float(ve), float(va))
        return [] if same else [f"value: expected {ve}, got {va}"]
    exp, act = _series(expected), _series(actual)
    diffs = []
    if ordered and expected.result_type == "vector" and [k for k, _ in exp] != [k for k, _ in act]:
        diffs.append(f"order: expected {[_fmt(k) for k, _ in exp][:5]}, got {[_fmt(k) for k, _ in act][:5]}")
    exp_by, act_by = _group(exp), _group(act)
    for key in sorted(exp_by.keys() - act_by.keys()):
        diffs.append(f"missing series {_fmt(key)}")
    for key in sorted(act_by.keys() - exp_by.keys()):
        diffs.append(f"extra series {_fmt(key)}")
    for key in sorted(exp_by.keys() & act_by.keys()):
        e, a = exp_by[key], act_by[key]
        if len(e) != len(a):
            diffs.append(f"{_fmt(key)}: {len(e)} series with these labels, got {len(a)}")
            continue
        for pe, pa in zip(sorted(e), sorted(a)):
            diffs += _compare_points(key, pe, pa)
    if len(diffs) > MAX_DETAILS:
        diffs = diffs[:MAX_DETAILS] + [f"... {len(diffs) - MAX_DETAILS} more"]
    return diffs


def _group(series: list[tuple[SeriesKey, list[Point]]]) -> dict[SeriesKey, list[list[Point]]]:
    out: dict[SeriesKey, list[list[Point]]] = defaultdict(list)
    for key, points in series:
        out[key].append(points)
    return out


def is_empty(answer: QueryAnswer) -> bool:
    """No data: an error, or a vector/matrix without series (scalars and strings are data)."""
    if not answer.ok:
        return True
    return answer.result_type in ("vector", "matrix") and not answer.result


# --- the report ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Difference:
    query: str
    evaluation: str
    details: tuple[str, ...]


@dataclass
class Report:
    queries: int
    evaluations: int  # per query
    differences: list[Difference] = field(default_factory=list)

    def summary(self) -> str:
        n_queries = len({d.query for d in self.differences})
        return (f"differential: {self.queries} queries × {self.evaluations} evaluations, "
                f"{len(self.differences)} differences" + (f" in {n_queries} queries" if n_queries else ""))

    def format(self, limit: int = 30) -> str:
        """The most common causes, then the first `limit` differences grouped by query; a
        query whose evaluations all differ the same way takes one line."""
        lines = [self.summary()]
        causes = Counter(_cause(d.details[0]) for d in self.differences)
        if len(causes) > 1 or len(self.differences) > limit:
            lines.append("  most common: " + "; ".join(f"{n}× {c}" for c, n in causes.most_common(5)))
        by_query: dict[str, list[Difference]] = defaultdict(list)
        for d in self.differences:
            by_query[d.query].append(d)
        shown = queries_shown = 0
        for query, diffs in by_query.items():
            if shown >= limit:
                break
            queries_shown += 1
            lines.append(f"  {query}")
            if len(diffs) > 1 and len({d.details for d in diffs}) == 1:
                lines.append(f"    {len(diffs)} evaluations: {diffs[0].details[0]}")
                shown += 1
                continue
            for d in diffs[: limit - shown]:
                lines.append(f"    {d.evaluation}: {d.details[0]}")
                lines += [f"      {x}" for x in d.details[1:]]
                shown += 1
        if queries_shown < len(by_query):
            lines.append(f"  ... and {len(by_query) - queries_shown} more queries with differences")
        return "\n".join(lines)


def _cause(detail: str) -> str:
    """A difference's kind, without series and values, for the "most common" line."""
    for pattern, fmt in _CAUSES:
        m = pattern.search(detail)
        if m:
            return fmt.format(*m.groups())
    return detail[:60]


_CAUSES = [(re.compile(p), f) for p, f in (
    (r"^unexpected error ([^\s:]+)", "unexpected error {}"),
    (r"^expected error (\S+) .*, got success$", "expected error {}, got success"),
    (r"^expected error (\S+) .*, got (\S+) \(", "expected error {}, got {}"),
    (r"^(missing series|extra series|order|result type: .*)", "{}"),
    (r"timestamps differ", "timestamps differ"),
    (r"series with these labels", "duplicate label sets"),
    (r"^\{.*@\S+: expected", "value"),
    (r"^(timestamp|value): ", "scalar {}"),
)]


def compare_runs(queries: list[Query], evals: list[Evaluation], reference: Answers, other: Answers) -> Report:
    report = Report(len(queries), len(evals))
    for q in queries:
        for e in evals:
            details = compare_answers(reference[(q.text, e)], other[(q.text, e)], q.ordered)
            if details:
                report.differences.append(Difference(q.text, e.label, tuple(details)))
    return report
