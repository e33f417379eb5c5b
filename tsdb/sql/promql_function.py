"""`promql(query, start, end, step)`: a table function that runs a PromQL range query for the
session's tenant and returns `metric`, `labels`, `series_id`, `timestamp`, `value`, so SQL
can post-process PromQL. `start` and `end` are unix seconds or RFC 3339 strings, `step`
seconds or a Prometheus duration (`'1m'`); an instant query is `start = end`."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
from datafusion import Table, udtf

from tsdb.api.common import parse_duration_ns, parse_time_value
from tsdb.labelsets import label_values
from tsdb.layout.columns import LABELS, LABELS_TYPE, METRIC, METRIC_NAME_LABEL, SERIES_ID, TIMESTAMP, \
    TIMESTAMP_TYPE, VALUE
from tsdb.sql.ids import series_ids

RESULT_SCHEMA = pa.schema([(METRIC, pa.string()), (LABELS, LABELS_TYPE), (SERIES_ID, pa.uint64()),
                           (TIMESTAMP, TIMESTAMP_TYPE), (VALUE, pa.float64())])


def promql_function(engine: Any, source: Callable[[], Any]):
    """The UDTF for one session: `engine` evaluates, `source()` is the tenant's samples."""
    def promql(query, start, end, step) -> Table:
        text = _literal(query, "query")
        if not isinstance(text, str):
            raise ValueError("promql(): the query must be a string")
        start_ms, end_ms = _time(_literal(start, "start")), _time(_literal(end, "end"))
        step_value = _literal(step, "step")
        step_ms = (int(round(float(step_value) * 1000)) if not isinstance(step_value, str)
                   else parse_duration_ns(step_value) // 1_000_000)
        result = engine.range(source(), text, start_ms, end_ms, max(step_ms, 1))
        return Table(ds.dataset(result_table(result.matrix)))
    return udtf(promql, "promql")


def result_table(matrix: list) -> pa.Table:
    """A range query's series as rows; `series_id` is Prometheus' labels hash of each output."""
    labels = pa.array([sorted(s.labels.items()) for s in matrix], LABELS_TYPE)
    ids = series_ids([s.labels for s in matrix])
    counts = np.array([len(s.timestamps) for s in matrix], np.int64)
    take = pa.array(np.repeat(np.arange(len(matrix)), counts), pa.int64())
    ts = np.concatenate([s.timestamps for s in matrix]) if matrix else np.zeros(0, np.int64)
    values = np.concatenate([s.values for s in matrix]) if matrix else np.zeros(0)
    return pa.table([label_values(labels, METRIC_NAME_LABEL).take(take), labels.take(take),
                     pa.array(ids, pa.uint64()).take(take), pa.array(ts, pa.int64()).cast(TIMESTAMP_TYPE),
                     pa.array(values, pa.float64())], schema=RESULT_SCHEMA)


def _literal(expr: Any, name: str) -> Any:
    try:
        v = expr.to_variant()
        kind = str(v.data_type())
    except Exception:
        raise ValueError(f"promql(): {name} must be a literal") from None
    if "Utf8" in kind:
        return v.value_string()
    if "Float" in kind:
        return v.value_f64()
    if "Int" in kind:
        return v.value_i64()
    raise ValueError(f"promql(): {name} must be a number or a string, not {kind}")


def _time(value: Any) -> int:
    return parse_time_value(str(value)) if isinstance(value, str) else int(round(float(value) * 1000))
