"""Version gates applied after parsing: functions one Prometheus version does not know."""
from __future__ import annotations

from promql.ast import Call, Expr
from promql.errors import ParseError

V3_ONLY = frozenset({
    "double_exponential_smoothing", "mad_over_time", "sort_by_label", "sort_by_label_desc",
    "first_over_time", "ts_of_first_over_time", "ts_of_last_over_time", "ts_of_max_over_time",
    "ts_of_min_over_time", "info", "histogram_avg", "histogram_count", "histogram_sum",
    "histogram_stddev", "histogram_stdvar", "histogram_fraction", "histogram_quantiles",
    "limitk", "limit_ratio", "start", "end", "step", "range", "min_of", "max_of", "start_timestamp",
})
V2_ONLY = frozenset({"holt_winters"})


def _walk(expr: object):
    yield expr
    if hasattr(expr, "__dataclass_fields__"):
        for name in expr.__dataclass_fields__:
            child = getattr(expr, name)
            if isinstance(child, tuple):
                for c in child:
                    if hasattr(c, "__dataclass_fields__") and hasattr(c, "type"):
                        yield from _walk(c)
            elif hasattr(child, "__dataclass_fields__") and hasattr(child, "type"):
                yield from _walk(child)


def validate_for_compat(expr: Expr, compat: str, text: str) -> None:
    banned = V2_ONLY if compat == "v3" else V3_ONLY - {"limitk", "limit_ratio"}
    for node in _walk(expr):
        if isinstance(node, Call) and node.func.name in banned:
            pos = node.pos[0] if node.pos else 0
            raise ParseError.at(text, f'unknown function with name "{node.func.name}"', pos) if text else \
                ParseError(f'unknown function with name "{node.func.name}"', 1, 1)
