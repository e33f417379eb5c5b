"""Date functions (`hour`, `day_of_week`, ...): UTC calendar fields of Unix-second values."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from promql.ast import Call
from promql.engine.values import InstantVector, Value

if TYPE_CHECKING:
    from promql.engine.evaluator import Evaluator


def _fields(name: str, secs: np.ndarray) -> np.ndarray:
    dt = secs.astype("datetime64[s]")
    days = dt.astype("datetime64[D]")
    months = dt.astype("datetime64[M]")
    years = dt.astype("datetime64[Y]")
    if name == "year":
        return years.astype(np.int64) + 1970
    if name == "month":
        return (months - years.astype("datetime64[M]")).astype(np.int64) + 1
    if name == "day_of_month":
        return (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    if name == "day_of_year":
        return (days - years.astype("datetime64[D]")).astype(np.int64) + 1
    if name == "day_of_week":
        return (days.astype(np.int64) + 4) % 7
    if name == "days_in_month":
        return ((months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")).astype(np.int64)
    if name == "hour":
        return (secs % 86400) // 3600
    if name == "minute":
        return (secs % 3600) // 60
    raise KeyError(name)


def date_function(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    if call.args:
        vec = ev.eval_vector(call.args[0], ts)
    else:
        vec = InstantVector([{}], (ts / 1000.0)[None, :], np.ones((1, len(ts)), bool))
    vals = vec.values
    finite = np.isfinite(vals)
    secs = np.where(finite, np.trunc(np.where(finite, vals, 0)), 0).astype(np.int64)
    out = _fields(call.func.name, secs).astype(np.float64)
    present = vec.present
    if not ev.v2:
        out = np.where(finite, out, np.nan)
    return ev.map_values(vec, out, present, drop=True)
