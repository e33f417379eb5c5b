"""The tree walker: evaluates an expression at every step of a query at once."""
from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import numpy as np

from promql.ast import (
    AggregateExpr, BinaryExpr, Call, Expr, MatrixSelector, NumberLiteral, ParenExpr, StringLiteral,
    SubqueryExpr, UnaryExpr, VectorSelector,
)
from promql.engine.errors import TOO_MANY_SAMPLES, QueryError, execution_error
from promql.engine.labels import drop_name
from promql.engine.selectors import drop_stale, instant_select
from promql.engine.source import SampleSource
from promql.engine.values import InstantVector, RangeVector, Scalar, String, Value, merge_same_labels

if TYPE_CHECKING:
    from promql.engine import EngineOptions

DEFAULT_SUBQUERY_STEP_MS = 60_000


class Evaluator:
    """One query's evaluation state: source, options, the query's own start/end/step, deadline."""

    def __init__(self, source: SampleSource, options: "EngineOptions", start_ms: int, end_ms: int,
                 step_ms: int) -> None:
        self.source = source
        self.options = options
        self.v2 = options.compat == "v2"
        self.query_start, self.query_end, self.query_step = start_ms, end_ms, step_ms
        self.deadline = time.monotonic() + options.timeout_s
        self.samples = 0
        self.func_hints: dict[int, str] = {}  # id(selector) → function around it (`hints.select_hints`)

    # --- plumbing -------------------------------------------------------------------------

    def check_deadline(self, phase: str = "query execution") -> None:
        if time.monotonic() > self.deadline:
            raise QueryError("timeout", f"query timed out in {phase}")

    def eval(self, expr: Expr, ts: np.ndarray) -> Value:
        self.check_deadline()
        if isinstance(expr, NumberLiteral):
            return Scalar(np.full(len(ts), expr.value))
        if isinstance(expr, StringLiteral):
            return String(expr.value)
        if isinstance(expr, ParenExpr):
            return self.eval(expr.expr, ts)
        if isinstance(expr, VectorSelector):
            return self.eval_selector(expr, ts)[0]
        if isinstance(expr, (MatrixSelector, SubqueryExpr)):
            return self.eval_range(expr, ts)
        if isinstance(expr, UnaryExpr):
            return self._unary(expr, ts)
        if isinstance(expr, Call):
            from promql.engine.functions import FUNCTION_IMPLS

            impl = FUNCTION_IMPLS.get(expr.func.name)
            if impl is None:
                raise QueryError("bad_data", f"function {expr.func.name!r} is not supported")
            return impl(self, expr, ts)
        if isinstance(expr, AggregateExpr):
            from promql.engine.aggregations import aggregate

            return aggregate(self, expr, ts)
        if isinstance(expr, BinaryExpr):
            return self._binary(expr, ts)
        raise QueryError("internal", f"unexpected expression {type(expr).__name__}")

    def eval_vector(self, expr: Expr, ts: np.ndarray) -> InstantVector:
        v = self.eval(expr, ts)
        if not isinstance(v, InstantVector):
            raise QueryError("internal", f"expected instant vector, got {type(v).__name__}")
        return v

    def eval_scalar(self, expr: Expr, ts: np.ndarray) -> np.ndarray:
        v = self.eval(expr, ts)
        if not isinstance(v, Scalar):
            raise QueryError("internal", f"expected scalar, got {type(v).__name__}")
        return v.values

    def eval_string(self, expr: Expr) -> str:
        while isinstance(expr, ParenExpr):
            expr = expr.expr
        if not isinstance(expr, StringLiteral):
            raise QueryError("internal", "expected string literal")
        return expr.value

    def _times(self, at: float | None, at_modifier: str | None, offset_ms: int, ts: np.ndarray) -> np.ndarray:
        """Evaluation times of a selector or subquery after `@` and `offset`."""
        if at_modifier == "start":
            base = np.full(len(ts), self.query_start, np.int64)
        elif at_modifier == "end":
            base = np.full(len(ts), self.query_end, np.int64)
        elif at is not None:
            base = np.full(len(ts), int(round(at * 1000)), np.int64)
        else:
            base = ts.astype(np.int64)
        return base - offset_ms

    def _matchers(self, vs: VectorSelector):
        if not self.v2:
            return vs.matchers
        return tuple(dataclasses.replace(m, dot_matches_newline=False) for m in vs.matchers)

    def _select(self, vs: VectorSelector, lo: int, hi: int):
        hinted = getattr(self.source, "select_hinted", None)  # an optional capability of a source
        if hinted is not None:
            return hinted(self._matchers(vs), int(lo), int(hi), self.func_hints.get(id(vs), ""))
        return self.source.select(self._matchers(vs), int(lo), int(hi))

    def _charge(self, n: int) -> None:
        """Count samples held for `querier.max_samples`, as Prometheus does: the points an
        instant selector yields, the samples a range selector's windows hold."""
        self.samples += int(n)
        if self.samples > self.options.max_samples:
            raise execution_error(TOO_MANY_SAMPLES)

    # --- selectors ------------------------------------------------------------------------

    def eval_selector(self, vs: VectorSelector, ts: np.ndarray, with_timestamps: bool = False
                      ) -> tuple[InstantVector, np.ndarray]:
        te = self._times(vs.at, vs.at_modifier, vs.offset_ms, ts)
        lookback = self.options.lookback_delta_ms
        ss = self._select(vs, te.min() - lookback, te.max())
        order = sorted(range(ss.n_series), key=lambda i: sorted(ss.labels[i].items()))
        vals, present, sample_ts = instant_select(ss.offsets, ss.timestamps, ss.values, te, lookback, not self.v2)
        self._charge(present.sum())
        idx = np.array(order, np.int64)
        vec = InstantVector([ss.labels[i] for i in order], vals[idx], present[idx])
        keep = vec.present.any(axis=1)
        return vec.take(np.flatnonzero(keep)), sample_ts[idx][keep]

    def eval_range(self, expr: Expr, ts: np.ndarray) -> RangeVector:
        while isinstance(expr, ParenExpr):
            expr = expr.expr
        if isinstance(expr, SubqueryExpr):
            return self._subquery(expr, ts)
        if not isinstance(expr, MatrixSelector):
            raise QueryError("internal", "expected range vector")
        vs = expr.vector
        te = self._times(vs.at, vs.at_modifier, vs.offset_ms, ts)
        ss = self._select(vs, te.min() - expr.range_ms, te.max())
        self._charge(len(ss.timestamps))
        order = sorted(range(ss.n_series), key=lambda i: sorted(ss.labels[i].items()))
        offsets, tss, vals = drop_stale(ss.offsets, ss.timestamps, ss.values)
        if order != list(range(ss.n_series)):
            offsets, tss, vals = _reorder(offsets, tss, vals, np.array(order, np.int64))
        return RangeVector([ss.labels[i] for i in order], offsets, tss, vals, te, expr.range_ms,
                           left_open=not self.v2, counts=ss.counts)

    def _subquery(self, sq: SubqueryExpr, ts: np.ndarray) -> RangeVector:
        te = self._times(sq.at, sq.at_modifier, sq.offset_ms, ts)
        step = sq.step_ms or DEFAULT_SUBQUERY_STEP_MS
        first = -(-(int(te.min()) - sq.range_ms) // step) * step
        inner_ts = np.arange(first, int(te.max()) + 1, step, dtype=np.int64)
        if len(inner_ts) == 0:
            inner = InstantVector.empty(0)
        else:
            inner = self.eval_vector(sq.expr, inner_ts).compact()
        counts = inner.present.sum(axis=1)
        offsets = np.zeros(inner.n + 1, np.int64)
        offsets[1:] = np.cumsum(counts)
        grid = np.broadcast_to(inner_ts[None, :], inner.present.shape)
        return RangeVector(inner.labels, offsets, grid[inner.present], inner.values[inner.present],
                           te, sq.range_ms, left_open=not self.v2, drop_name=inner.drop_name)

    # --- operators ------------------------------------------------------------------------

    def _unary(self, expr: UnaryExpr, ts: np.ndarray) -> Value:
        v = self.eval(expr.expr, ts)
        if expr.op != "-":
            return v
        if isinstance(v, Scalar):
            return Scalar(-v.values)
        assert isinstance(v, InstantVector)
        return self.map_values(v, -v.values, v.present, drop=True)

    def _binary(self, expr: BinaryExpr, ts: np.ndarray) -> Value:
        from promql.engine import binops

        lhs = self.eval(expr.lhs, ts)
        rhs = self.eval(expr.rhs, ts)
        if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
            return binops.scalar_scalar(expr, lhs, rhs)
        if isinstance(lhs, InstantVector) and isinstance(rhs, Scalar):
            return binops.vector_scalar(self, expr, lhs, rhs, scalar_on_left=False)
        if isinstance(lhs, Scalar) and isinstance(rhs, InstantVector):
            return binops.vector_scalar(self, expr, rhs, lhs, scalar_on_left=True)
        assert isinstance(lhs, InstantVector) and isinstance(rhs, InstantVector)
        return binops.vector_vector(self, expr, lhs, rhs)

    # --- result helpers -------------------------------------------------------------------

    def maybe_drop_name(self, vec: InstantVector, drop: bool) -> InstantVector:
        """Drop `__name__` now (v2) or mark it for removal at the end (v3's delayed removal)."""
        if not drop:
            return vec.compact()
        if self.v2:
            labels = [drop_name(lb) for lb in vec.labels]
            return merge_same_labels(dataclasses.replace(vec, labels=labels).compact())
        return dataclasses.replace(vec, drop_name=np.ones(vec.n, bool)).compact()

    def map_values(self, vec: InstantVector, values: np.ndarray, present: np.ndarray, drop: bool
                   ) -> InstantVector:
        out = InstantVector(vec.labels, values, present, vec.drop_name, None)
        return self.maybe_drop_name(out, drop)

    def series_result(self, labels: list[dict[str, str]], values: np.ndarray, present: np.ndarray,
                      drops: np.ndarray, drop: bool) -> InstantVector:
        vec = InstantVector(labels, values, present, None if self.v2 else drops)
        return self.maybe_drop_name(vec, drop)


def _reorder(offsets: np.ndarray, ts: np.ndarray, vals: np.ndarray, order: np.ndarray):
    counts = np.diff(offsets)[order]
    starts = offsets[:-1][order]
    idx = np.concatenate([np.arange(s, s + c) for s, c in zip(starts, counts)]) if len(order) else np.zeros(0, np.int64)
    new_off = np.zeros(len(order) + 1, np.int64)
    new_off[1:] = np.cumsum(counts)
    return new_off, ts[idx.astype(np.int64)], vals[idx.astype(np.int64)]
