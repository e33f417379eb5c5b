"""Query-limit errors, raised as the PromQL engine's `QueryError` so the API maps them
to Prometheus' `execution` error type.

The engine package is written concurrently with this one, so it is imported lazily and
a look-alike is used if it is not importable (same constructor, same attributes).
"""
from __future__ import annotations


class _FallbackQueryError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def _query_error_class() -> type[Exception]:
    try:
        from promql.engine import QueryError  # type: ignore[attr-defined]
        return QueryError
    except ImportError:
        pass
    try:
        from promql.engine.errors import QueryError
        return QueryError
    except ImportError:
        return _FallbackQueryError


def too_many_series(limit: int) -> Exception:
    """Mimir's max-series-per-query error (its text and ID)."""
    return _query_error_class()(
        "execution",
        f"the query exceeded the maximum number of series (limit: {limit} series) (err-mimir-max-series-per-query)")
