"""`explain`: what the storage side does for each selector of a PromQL query.

For every vector selector (found by walking the AST) it runs the real `select` with a
trace and reports the matchers pushed down, the files read and skipped (and why), the
row groups read and skipped per file (and by which rule), and the series and samples
returned. The selector's window is the query's, widened as the engine will widen it:
by the range of a range selector or subquery, else by the 5 m lookback, and moved by
`offset` and `@`. (Duration expressions in `offset`/ranges use their parsed value.)
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import datetime as dt
from dataclasses import dataclass, field

from promql import parse
from promql.ast import (
    AggregateExpr, BinaryExpr, Call, Expr, MatrixSelector, ParenExpr, SubqueryExpr, UnaryExpr, VectorSelector,
)
from promql.printer import format_expr, format_matcher
from tsdb.layout.columns import METRIC_NAME_LABEL
from tsdb.query.layout import PROJECTION, LayoutCache
from tsdb.query.source import SelectTrace, StorageSource
from tsdb.tenancy import Tenant

if TYPE_CHECKING:  # services import this package, so only for type hints
    from tsdb.services import Services

LOOKBACK_MS = 5 * 60_000


@dataclass(frozen=True)
class SelectorWindow:
    selector: VectorSelector
    start_ms: int
    end_ms: int


def selector_windows(expr: Expr, start_ms: int, end_ms: int, lookback_ms: int = LOOKBACK_MS) -> list[SelectorWindow]:
    """Every vector selector of `expr` with the sample window it needs, in source order."""
    match expr:
        case VectorSelector():
            s, e = _anchor(expr, start_ms, end_ms)
            return [SelectorWindow(expr, s - expr.offset_ms - lookback_ms, e - expr.offset_ms)]
        case MatrixSelector(vector=v):
            s, e = _anchor(v, start_ms, end_ms)
            return [SelectorWindow(v, s - v.offset_ms - expr.range_ms, e - v.offset_ms)]
        case SubqueryExpr():
            s, e = _anchor(expr, start_ms, end_ms)
            return selector_windows(expr.expr, s - expr.offset_ms - expr.range_ms, e - expr.offset_ms, lookback_ms)
        case Call(args=args):
            return [w for a in args for w in selector_windows(a, start_ms, end_ms, lookback_ms)]
        case AggregateExpr():
            children = [expr.param, expr.expr] if expr.param is not None else [expr.expr]
            return [w for c in children for w in selector_windows(c, start_ms, end_ms, lookback_ms)]
        case BinaryExpr():
            return (selector_windows(expr.lhs, start_ms, end_ms, lookback_ms)
                    + selector_windows(expr.rhs, start_ms, end_ms, lookback_ms))
        case UnaryExpr() | ParenExpr():
            return selector_windows(expr.expr, start_ms, end_ms, lookback_ms)
    return []


def _anchor(node: VectorSelector | SubqueryExpr, start_ms: int, end_ms: int) -> tuple[int, int]:
    """`@ t` pins evaluation to t; `@ start()` / `@ end()` to the query's ends."""
    if node.at is not None:
        t = int(round(node.at * 1000))
        return t, t
    if node.at_modifier == "start":
        return start_ms, start_ms
    if node.at_modifier == "end":
        return end_ms, end_ms
    return start_ms, end_ms


@dataclass
class SelectorReport:
    selector: str
    start_ms: int
    end_ms: int
    pushed: list[str]
    trace: SelectTrace = field(default_factory=SelectTrace)


@dataclass
class ExplainReport:
    query: str
    start_ms: int
    end_ms: int
    head_read: bool
    selectors: list[SelectorReport]

    def format(self) -> str:
        lines = [f"query: {self.query}", f"range: {_ts(self.start_ms)} .. {_ts(self.end_ms)}"]
        if not self.head_read:
            lines.append("head: not read (this reads the bucket only; samples still in an ingester's "
                         "head are not shown)")
        for i, sel in enumerate(self.selectors, 1):
            t = sel.trace
            lines += ["", f"selector {i}: {sel.selector}",
                      f"  window: {_ts(sel.start_ms)} .. {_ts(sel.end_ms)}",
                      "  pushed down:"]
            lines += [f"    {p}" for p in sel.pushed]
            read = [f for f in t.files if f.skip is None]
            reasons: dict[str, int] = {}
            for f in t.files:
                if f.skip is not None:
                    reasons[f.skip] = reasons.get(f.skip, 0) + 1
            skipped = ", ".join(f"{n} skipped ({r})" for r, n in sorted(reasons.items()))
            lines.append(f"  files: {len(t.files)} in the manifest, {len(read)} read" + (f", {skipped}" if skipped else ""))
            for f in t.files:
                name = f.path.rsplit("/", 2)[-2] + "/" + f.path.rsplit("/", 1)[-1]
                head = f"    {'read' if f.skip is None else 'skip'} {name} seq={f.seq}"
                if f.skip is not None:
                    lines.append(f"{head}: {f.skip}")
                    continue
                p = f.plan
                mode = "" if p.exact else ", fallback: series_id is_in"
                fetched = f", {f.bytes_fetched} bytes in {f.requests} requests" if f.requests else ""
                lines.append(f"{head}: {f.series} series; row groups {len(p.read)}/{p.total} read, skipped "
                             f"{p.skipped_time} by time, {p.skipped_metric} by metric, {p.skipped_series} by series"
                             f"{mode}; {f.rows_read} rows decoded, {f.samples} samples kept{fetched}")
            if t.head_read:
                lines.append(f"  head: {t.head_series} series, {t.head_samples} samples")
            lines.append(f"  returned: {t.series} series, {t.samples} samples")
        return "\n".join(lines)


def explain(services: Services, tenant: Tenant, query: str, start_ms: int, end_ms: int, *,
            read_head: bool = True, layouts: LayoutCache | None = None) -> ExplainReport:
    """Run every selector of `query` over [start_ms, end_ms] with tracing."""
    source = StorageSource(services, tenant, layouts=layouts, read_head=read_head)
    reports = []
    for w in selector_windows(parse(query), start_ms, end_ms):
        trace = SelectTrace()
        source.select_traced(w.selector.matchers, w.start_ms, w.end_ms, trace)
        reports.append(SelectorReport(format_expr(w.selector), w.start_ms, w.end_ms,
                                      pushed_down(w.selector, w.start_ms, w.end_ms, trace), trace))
    return ExplainReport(query, start_ms, end_ms, read_head, reports)


def pushed_down(selector: VectorSelector, start_ms: int, end_ms: int, trace: SelectTrace) -> list[str]:
    out = [f"timestamp >= {_ts(start_ms)} AND timestamp <= {_ts(end_ms)}  "
           "(manifest time ranges, sidecar series ranges, row-group statistics)"]
    metric = next((m.value for m in selector.matchers if m.name == METRIC_NAME_LABEL and m.op == "="), None)
    if metric is not None:
        out.append(f"metric = {metric!r}  (row-group statistics)")
    matchers = ", ".join(format_matcher(m) for m in selector.matchers)
    out.append(f"series_id IN ({trace.matched_series} series matched by {{{matchers}}} on the series tables)  "
               "(row spans from the sidecars)")
    out.append(f"columns: {', '.join(PROJECTION)}")
    return out


def _ts(ms: int) -> str:
    try:
        d = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return str(ms)
    return d.isoformat(timespec="milliseconds").replace("+00:00", "Z")
