"""The PromQL engine: evaluates parsed expressions over raw samples from a `SampleSource`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from promql import Expr, ParseError, parse
from promql.engine.errors import QueryError
from promql.engine.evaluator import Evaluator
from promql.engine.hints import select_hints
from promql.engine.results import MatrixSeries, QueryResult, VectorSample
from promql.engine.source import SampleSource, SeriesSet
from promql.engine.validate import validate_for_compat
from promql.engine.values import InstantVector, RangeVector, Scalar, String, finalize_names
from promql.engine.labels import drop_name, label_key

__all__ = [
    "Engine", "EngineOptions", "MatrixSeries", "QueryError", "QueryResult", "SampleSource",
    "SeriesSet", "VectorSample",
]


@dataclass(frozen=True)
class EngineOptions:
    lookback_delta_ms: int = 300_000
    compat: str = "v3"  # "v3" = Prometheus 3 semantics, "v2" = Prometheus 2.x
    max_samples: int = 50_000_000
    timeout_s: float = 120.0


class Engine:
    """Stateless apart from its options; safe to share between threads."""

    def __init__(self, options: EngineOptions = EngineOptions()) -> None:
        if options.compat not in ("v2", "v3"):
            raise ValueError(f"compat must be 'v2' or 'v3', not {options.compat!r}")
        self.options = options

    def _parse(self, query: str | Expr) -> Expr:
        expr = parse(query) if isinstance(query, str) else query
        validate_for_compat(expr, self.options.compat, query if isinstance(query, str) else "")
        return expr

    def instant(self, source: SampleSource, query: str | Expr, time_ms: int) -> QueryResult:
        expr = self._parse(query)
        ev = Evaluator(source, self.options, time_ms, time_ms, 0)
        ev.func_hints = select_hints(expr)
        ts = np.array([time_ms], np.int64)
        value = ev.eval(expr, ts)
        if isinstance(value, Scalar):
            return QueryResult("scalar", scalar=(time_ms, float(value.values[0])))
        if isinstance(value, String):
            return QueryResult("string", string=(time_ms, value.value))
        if isinstance(value, RangeVector):
            return QueryResult("matrix", matrix=_range_vector_matrix(value, ev.v2))
        vec = finalize_names(value).compact()
        samples = [VectorSample(dict(lb), time_ms, float(v)) for lb, v in zip(vec.labels, vec.values[:, 0])]
        if vec.order is not None:
            order = np.argsort(vec.order[:, 0], kind="stable")
        else:
            order = sorted(range(len(samples)), key=lambda i: label_key(samples[i].labels))
        return QueryResult("vector", vector=[samples[i] for i in order])

    def range(self, source: SampleSource, query: str | Expr, start_ms: int, end_ms: int,
              step_ms: int) -> QueryResult:
        expr = self._parse(query)
        if expr.type not in ("scalar", "vector"):
            from promql.ast import documented_type

            raise QueryError("bad_data", f'invalid expression type "{documented_type(expr.type)}" for range '
                                         "query, must be Scalar or instant Vector")
        if step_ms <= 0:
            raise QueryError("bad_data", "zero or negative query resolution step widths are not accepted. "
                                         "Try a positive integer")
        ev = Evaluator(source, self.options, start_ms, end_ms, step_ms)
        ev.func_hints = select_hints(expr)
        ts = np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)
        value = ev.eval(expr, ts)
        if isinstance(value, Scalar):
            return QueryResult("matrix", matrix=[MatrixSeries({}, ts.copy(), value.values.copy())])
        assert isinstance(value, InstantVector)
        vec = finalize_names(value).compact()
        order = sorted(range(vec.n), key=lambda i: label_key(vec.labels[i]))
        matrix = [MatrixSeries(dict(vec.labels[i]), ts[vec.present[i]], vec.values[i][vec.present[i]])
                  for i in order]
        return QueryResult("matrix", matrix=matrix)


def _range_vector_matrix(rv: RangeVector, v2: bool) -> list[MatrixSeries]:
    lo, hi = rv.windows()
    drops = rv.drops()
    out = []
    for i in range(rv.n):  # per series
        a, b = int(lo[i, 0]), int(hi[i, 0])
        if b > a:
            labels = drop_name(rv.labels[i]) if drops[i] else dict(rv.labels[i])
            out.append(MatrixSeries(labels, rv.timestamps[a:b].copy(), rv.values[a:b].copy()))
    out.sort(key=lambda s: label_key(s.labels))
    return out
