"""The function table: PromQL function name -> implementation `fn(evaluator, call, steps) -> Value`."""
from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np

from promql.ast import Call
from promql.engine.functions import dates, elementwise, label_functions, vectors
from promql.engine.functions.range_functions import RANGE_KERNELS, absent_over_time, range_function
from promql.engine.histograms import histogram_quantile
from promql.engine.values import InstantVector, Value

if TYPE_CHECKING:
    from promql.engine.evaluator import Evaluator

Impl = Callable[["Evaluator", Call, np.ndarray], Value]


def _native_only(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    """Native-histogram functions ignore float samples, so over float data they return nothing."""
    for arg in call.args:
        if arg.type == "vector":
            ev.eval_vector(arg, ts)
    return InstantVector.empty(len(ts))


def _identity_info(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    return ev.eval_vector(call.args[0], ts)


def _build() -> Mapping[str, Impl]:
    table: dict[str, Impl] = {name: range_function(k) for name, k in RANGE_KERNELS.items()}
    table.update({name: elementwise.math_function(fn) for name, fn in elementwise.MATH.items()})
    table.update({
        "clamp": elementwise.clamp, "clamp_min": elementwise.clamp, "clamp_max": elementwise.clamp,
        "round": elementwise.round_,
        "scalar": vectors.scalar, "vector": vectors.vector, "time": vectors.time_, "pi": vectors.pi,
        "start": vectors.query_bound, "end": vectors.query_bound, "step": vectors.query_bound,
        "range": vectors.query_bound,
        "absent": vectors.absent, "absent_over_time": absent_over_time, "timestamp": vectors.timestamp,
        "sort": vectors.sort, "sort_desc": vectors.sort,
        "sort_by_label": vectors.sort_by_label, "sort_by_label_desc": vectors.sort_by_label,
        "label_replace": label_functions.label_replace, "label_join": label_functions.label_join,
        "histogram_quantile": histogram_quantile, "info": _identity_info,
    })
    for name in ("year", "month", "day_of_month", "day_of_year", "day_of_week", "days_in_month",
                 "hour", "minute"):
        table[name] = dates.date_function
    for name in ("histogram_avg", "histogram_count", "histogram_sum", "histogram_stddev",
                 "histogram_stdvar", "histogram_fraction", "histogram_quantiles", "start_timestamp"):
        table[name] = _native_only
    return MappingProxyType(table)


FUNCTION_IMPLS: Mapping[str, Impl] = _build()
