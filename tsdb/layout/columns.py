"""Column naming: fixed columns, and the rule that maps label names to column names.

Fixed columns of a data file: `metric` (the `__name__` label), `series_id`, `timestamp`,
`value`, `labels` (a map of every label, `__name__` included).

A label `L` is stored in a column named `L`, so that a DuckDB user writes
`WHERE job = 'api'`, unless that could collide with something:
- `L` equals a fixed column name, ignoring case (`timestamp`, `Value`, ...), or
- `L` starts with `__` (the namespace Prometheus reserves).
Then the column is `__label_` + `L`. Unescaped names never start with `__`, so the
mapping is injective and no label ever shadows a fixed column. DuckDB compares column
names case-insensitively, so when two label names differ only in case, only one (the
more common, then the first in byte order) is promoted to a column. Every label is
always in the `labels` map, so nothing is lost by not promoting it.
"""
from __future__ import annotations

import pyarrow as pa

METRIC = "metric"
SERIES_ID = "series_id"
TIMESTAMP = "timestamp"
VALUE = "value"
LABELS = "labels"
FIXED_COLUMNS = (METRIC, SERIES_ID, TIMESTAMP, VALUE, LABELS)
_FIXED_LOWER = frozenset(c.lower() for c in FIXED_COLUMNS)
ESCAPE_PREFIX = "__label_"
METRIC_NAME_LABEL = "__name__"

TIMESTAMP_TYPE = pa.timestamp("ms", tz="UTC")
LABELS_TYPE = pa.map_(pa.string(), pa.string())
SCHEMA_VERSION = 1


def label_column_name(label: str) -> str:
    """The column that holds label `label` when it is promoted."""
    if label.lower() in _FIXED_LOWER or label.startswith("__"):
        return ESCAPE_PREFIX + label
    return label


def label_from_column_name(column: str) -> str | None:
    """Inverse of `label_column_name`; None for fixed columns."""
    if column in FIXED_COLUMNS:
        return None
    if column.startswith(ESCAPE_PREFIX):
        return column[len(ESCAPE_PREFIX):]
    return column


def choose_promoted_labels(names_by_series_count: dict[str, int], cap: int) -> list[str]:
    """Label names that get their own column: the most common ones, at most `cap`,
    skipping names that collide case-insensitively with an already chosen one."""
    ranked = sorted(
        (n for n in names_by_series_count if n != METRIC_NAME_LABEL),
        key=lambda n: (-names_by_series_count[n], n),
    )
    chosen: list[str] = []
    seen_lower: set[str] = set()
    for name in ranked:
        col = label_column_name(name).lower()
        if col in seen_lower:
            continue
        seen_lower.add(col)
        chosen.append(name)
        if len(chosen) == cap:
            break
    return sorted(chosen)
