"""Canonical PromQL text for an AST, as Prometheus' `Expr.String()` prints it.

This is the single-line form `promtool` and `/api/v1/format_query` build on: spaces
around binary operators, `sum by (job) (...)`, sorted matchers without spaces, and
durations in `model.Duration` form. Parsing the output yields an equal AST.
"""
from __future__ import annotations

import re
from functools import singledispatch

from promql.ast import (
    AggregateExpr, BinaryExpr, Call, DurationExpr, Expr, MatrixSelector, NumberLiteral, ParenExpr,
    StringLiteral, SubqueryExpr, UnaryExpr, VectorMatching, VectorSelector,
)
from promql.durations import format_duration_ms, format_signed_duration_ms
from promql.matchers import Matcher
from promql.numbers import format_float, format_float_v
from promql.strings import go_quote

_LEGACY_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def format_expr(expr: Expr) -> str:
    return _fmt(expr)


def format_matcher(m: Matcher) -> str:
    """labels.Matcher.String: the name is quoted unless it is a legacy identifier."""
    name = m.name if _LEGACY_LABEL.match(m.name) else go_quote(m.name)
    return f"{name}{m.op}{go_quote(m.value)}"


def format_labels(labels: tuple[str, ...]) -> str:
    return ", ".join(s if _LEGACY_LABEL.match(s) else go_quote(s) for s in labels)


@singledispatch
def _fmt(node: object) -> str:
    raise TypeError(f"cannot print {type(node).__name__}")


@_fmt.register
def _(node: NumberLiteral) -> str:
    if node.duration:
        return format_signed_duration_ms(round(node.value * 1000))
    return format_float(node.value)


@_fmt.register
def _(node: StringLiteral) -> str:
    return go_quote(node.value)


@_fmt.register
def _(node: ParenExpr) -> str:
    return f"({_fmt(node.expr)})"


@_fmt.register
def _(node: UnaryExpr) -> str:
    return f"{node.op}{_fmt(node.expr)}"


@_fmt.register
def _(node: Call) -> str:
    return f"{node.func.name}({', '.join(_fmt(a) for a in node.args)})"


@_fmt.register
def _(node: AggregateExpr) -> str:
    out = node.op
    if node.without:
        out += f" without ({format_labels(node.grouping)}) "
    elif node.grouping:
        out += f" by ({format_labels(node.grouping)}) "
    args = f"{_fmt(node.param)}, {_fmt(node.expr)}" if node.param is not None else _fmt(node.expr)
    return f"{out}({args})"


@_fmt.register
def _(node: BinaryExpr) -> str:
    bool_str = " bool" if node.return_bool else ""
    lhs = _fmt(node.lhs)
    if node.op == "^" and lhs == "+Inf":
        lhs = "Inf"  # "+Inf ^ x" would re-parse as +(Inf ^ x): unary binds looser than ^
    return f"{lhs} {node.op}{bool_str}{_matching(node.matching)} {_fmt(node.rhs)}"


def _matching(vm: VectorMatching | None) -> str:
    if vm is None:
        return ""
    out = ""
    grouped = vm.card in ("many-to-one", "one-to-many")
    if vm.labels or vm.on or grouped:
        out += f" {'on' if vm.on else 'ignoring'} ({format_labels(vm.labels)})"
    if grouped:
        side = "left" if vm.card == "many-to-one" else "right"
        out += f" group_{side} ({format_labels(vm.include)})"
    lhs, rhs = vm.fill_lhs, vm.fill_rhs
    if lhs is not None and rhs is not None and format_float_v(lhs) == format_float_v(rhs):
        out += f" fill ({format_float_v(lhs)})"
    else:
        if lhs is not None:
            out += f" fill_left ({format_float_v(lhs)})"
        if rhs is not None:
            out += f" fill_right ({format_float_v(rhs)})"
    return out


def _offset(offset_ms: int, offset_expr: NumberLiteral | DurationExpr | None) -> str:
    if offset_expr is not None:
        return f" offset {format_duration_node(offset_expr)}"
    if offset_ms:
        return f" offset {format_signed_duration_ms(offset_ms)}"
    return ""


def _at(at: float | None, at_modifier: str | None) -> str:
    if at is not None:
        return f" @ {at:.3f}"
    if at_modifier is not None:
        return f" @ {at_modifier}()"
    return ""


def _extended(vs: VectorSelector) -> str:
    return " anchored" if vs.anchored else " smoothed" if vs.smoothed else ""


def _selector_body(vs: VectorSelector) -> str:
    implied_skipped = False
    parts = []
    for m in vs.matchers:
        if (not implied_skipped and vs.name and m.name == "__name__" and m.op == "="
                and m.value == vs.name):
            implied_skipped = True
            continue
        parts.append(format_matcher(m))
    body = vs.name or ""
    if parts:
        body += "{" + ",".join(sorted(parts)) + "}"
    return body


@_fmt.register
def _(node: VectorSelector) -> str:
    return (_selector_body(node) + _at(node.at, node.at_modifier) + _extended(node)
            + _offset(node.offset_ms, node.offset_expr))


@_fmt.register
def _(node: MatrixSelector) -> str:
    vs = node.vector
    rng = format_duration_node(node.range_expr) if node.range_expr else format_duration_ms(node.range_ms)
    return (f"{_selector_body(vs)}[{rng}]{_extended(vs)}{_at(vs.at, vs.at_modifier)}"
            + _offset(vs.offset_ms, vs.offset_expr))


@_fmt.register
def _(node: SubqueryExpr) -> str:
    rng = format_duration_node(node.range_expr) if node.range_expr else format_duration_ms(node.range_ms)
    if node.step_ms:
        step = format_duration_ms(node.step_ms)
    elif node.step_expr is not None:
        step = format_duration_node(node.step_expr)
    else:
        step = ""
    return (f"{_fmt(node.expr)}[{rng}:{step}]{_at(node.at, node.at_modifier)}"
            + _offset(node.offset_ms, node.offset_expr))


def format_duration_node(node: NumberLiteral | DurationExpr) -> str:
    if isinstance(node, NumberLiteral):
        return _fmt(node)
    if node.op in ("step", "range"):
        text = f"{node.op}()"
    elif node.op in ("min_of", "max_of"):
        assert node.lhs is not None and node.rhs is not None
        text = f"{node.op}({format_duration_node(node.lhs)}, {format_duration_node(node.rhs)})"
    elif node.lhs is None:
        assert node.rhs is not None
        inner = format_duration_node(node.rhs)
        text = f"-{inner}" if node.op == "-" else inner
    else:
        assert node.rhs is not None
        text = f"{format_duration_node(node.lhs)} {node.op} {format_duration_node(node.rhs)}"
    return f"({text})" if node.wrapped else text
