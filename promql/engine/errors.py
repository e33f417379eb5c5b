"""Query errors, typed like the HTTP API's `errorType` so the API layer can map them directly."""
from __future__ import annotations

ERROR_TYPES = frozenset({"bad_data", "execution", "timeout", "canceled", "internal"})


class QueryError(Exception):
    """An evaluation failure; `error_type` is one of ERROR_TYPES, `message` is Prometheus' text."""

    def __init__(self, error_type: str, message: str) -> None:
        if error_type not in ERROR_TYPES:
            raise ValueError(f"unknown error type {error_type!r}")
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def execution_error(message: str) -> QueryError:
    return QueryError("execution", message)


TOO_MANY_SAMPLES = "query processing would load too many samples into memory in query execution"
SAME_LABELSET = "vector cannot contain metrics with the same labelset"
