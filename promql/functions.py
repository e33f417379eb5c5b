"""The table of PromQL functions the parser accepts, with their signatures.

Mirrors Prometheus' parser/functions.go (3.x, experimental functions included) plus
`holt_winters`, the 2.x name of `double_exponential_smoothing`, so 2.x queries parse.
`variadic` follows Prometheus: 0 = fixed arity, n > 0 = the last argument type may be
given up to n extra times (or omitted), -1 = unlimited repetitions of the last type.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

S, V, M, STR = "scalar", "vector", "matrix", "string"


@dataclass(frozen=True)
class Function:
    name: str
    arg_types: tuple[str, ...]
    return_type: str
    variadic: int = 0
    experimental: bool = False


def _f(name: str, args: str, ret: str = V, variadic: int = 0, experimental: bool = False) -> Function:
    types = {"s": S, "v": V, "m": M, "t": STR}
    return Function(name, tuple(types[c] for c in args), ret, variadic, experimental)


_ALL = (
    _f("abs", "v"), _f("absent", "v"), _f("absent_over_time", "m"),
    _f("acos", "v"), _f("acosh", "v"), _f("asin", "v"), _f("asinh", "v"),
    _f("atan", "v"), _f("atanh", "v"), _f("avg_over_time", "m"), _f("ceil", "v"),
    _f("changes", "m"), _f("clamp", "vss"), _f("clamp_max", "vs"), _f("clamp_min", "vs"),
    _f("cos", "v"), _f("cosh", "v"), _f("count_over_time", "m"),
    _f("days_in_month", "v", variadic=1), _f("day_of_month", "v", variadic=1),
    _f("day_of_week", "v", variadic=1), _f("day_of_year", "v", variadic=1),
    _f("deg", "v"), _f("delta", "m"), _f("deriv", "m"),
    _f("double_exponential_smoothing", "mss", experimental=True),
    _f("end", "", S, experimental=True), _f("exp", "v"),
    _f("first_over_time", "m"), _f("floor", "v"),
    _f("histogram_avg", "v"), _f("histogram_count", "v"), _f("histogram_fraction", "ssv"),
    _f("histogram_quantile", "sv"),
    _f("histogram_quantiles", "vtss", variadic=9, experimental=True),
    _f("histogram_stddev", "v"), _f("histogram_stdvar", "v"), _f("histogram_sum", "v"),
    _f("holt_winters", "mss"),
    _f("hour", "v", variadic=1), _f("idelta", "m"), _f("increase", "m"),
    _f("info", "vv", variadic=1, experimental=True), _f("irate", "m"),
    _f("label_join", "vttt", variadic=-1), _f("label_replace", "vtttt"),
    _f("last_over_time", "m"), _f("ln", "v"), _f("log10", "v"), _f("log2", "v"),
    _f("mad_over_time", "m", experimental=True),
    _f("max_of", "ss", S, experimental=True), _f("max_over_time", "m"),
    _f("min_of", "ss", S, experimental=True), _f("min_over_time", "m"),
    _f("minute", "v", variadic=1), _f("month", "v", variadic=1), _f("pi", "", S),
    _f("predict_linear", "ms"), _f("present_over_time", "m"), _f("quantile_over_time", "sm"),
    _f("rad", "v"), _f("range", "", S, experimental=True), _f("rate", "m"), _f("resets", "m"),
    _f("round", "vs", variadic=1), _f("scalar", "v", S), _f("sgn", "v"),
    _f("sin", "v"), _f("sinh", "v"), _f("sort", "v"),
    _f("sort_by_label", "vt", variadic=-1, experimental=True),
    _f("sort_by_label_desc", "vt", variadic=-1, experimental=True),
    _f("sort_desc", "v"), _f("sqrt", "v"),
    _f("start", "", S, experimental=True),
    _f("start_timestamp", "v", experimental=True),
    _f("step", "", S, experimental=True),
    _f("stddev_over_time", "m"), _f("stdvar_over_time", "m"), _f("sum_over_time", "m"),
    _f("tan", "v"), _f("tanh", "v"), _f("time", "", S), _f("timestamp", "v"),
    _f("ts_of_first_over_time", "m", experimental=True),
    _f("ts_of_last_over_time", "m", experimental=True),
    _f("ts_of_max_over_time", "m", experimental=True),
    _f("ts_of_min_over_time", "m", experimental=True),
    _f("vector", "s"), _f("year", "v", variadic=1),
)

FUNCTIONS: Mapping[str, Function] = MappingProxyType({f.name: f for f in _ALL})


def get_function(name: str) -> Function | None:
    """Look a function up by its exact (case-sensitive) name, as Prometheus does."""
    return FUNCTIONS.get(name)
