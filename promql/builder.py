"""Builds AST nodes while lark reduces grammar rules.

The callbacks run inline in the LALR parser, in the order Prometheus' yacc actions run,
so an error found while building (a bad duration, an unknown function, a trailing
comma) is raised before any later syntax error, just as Prometheus reports its first
error. Type checking happens afterwards, in `checker`, as in Prometheus.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Sequence

from lark import Token, Transformer, v_args

from promql.ast import (
    AggregateExpr, BinaryExpr, Call, DurationExpr, DurationNode, Expr, MatrixSelector,
    NumberLiteral, ParenExpr, Pos, StringLiteral, SubqueryExpr, UnaryExpr, VectorMatching,
    VectorSelector, AGGREGATORS_WITH_PARAM,
)
from promql.durations import parse_duration_ms
from promql.errors import PositionedError
from promql.functions import get_function
from promql.matchers import Matcher
from promql.numbers import parse_go_number
from promql.strings import go_quote, unquote

BINARY_OPS = MappingProxyType({
    "ADD": "+", "SUB": "-", "MUL": "*", "DIV": "/", "MOD": "%", "POW": "^", "ATAN2": "atan2",
    "EQLC": "==", "NEQ": "!=", "LTE": "<=", "LSS": "<", "GTE": ">=", "GTR": ">",
    "TRIM_UPPER": "</", "TRIM_LOWER": ">/", "LAND": "and", "LOR": "or", "LUNLESS": "unless",
})
_MAX_DURATION_SECONDS = 2**63 / 1e9  # time.Duration's range


@dataclass(frozen=True)
class AggregateOp:
    """An aggregation keyword already committed to being an operator (not a metric name)."""

    token: Token


@dataclass(frozen=True)
class CallArgs:
    args: tuple[Expr, ...]
    end: int


@dataclass(frozen=True)
class _BinModifier:
    return_bool: bool
    matching: VectorMatching


def span(x: Any) -> Pos:
    if isinstance(x, Token):
        return (x.start_pos or 0, x.end_pos or 0)
    return x.pos  # type: ignore[no-any-return]


def _fail(message: str, where: Any) -> PositionedError:
    return PositionedError(message, span(where)[0])


def _seconds_to_ms(seconds: float) -> int:
    """time.Duration(math.Round(s * 1e9)) truncated to milliseconds."""
    ns = round(seconds * 1e9)
    return ns // 1_000_000 if ns >= 0 else -((-ns) // 1_000_000)


def _out_of_range(seconds: float) -> bool:
    return math.isnan(seconds) or not -_MAX_DURATION_SECONDS <= seconds <= _MAX_DURATION_SECONDS


def _go_float_f(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return f"{v:f}"


@v_args(inline=True)
class AstBuilder(Transformer):  # type: ignore[type-arg]
    """lark callbacks; stateless, so one instance serves every parse."""

    # -- plumbing -------------------------------------------------------------------

    def start(self, expr: Expr) -> Expr:
        return expr

    def series_selector(self, vs: VectorSelector) -> VectorSelector:
        return vs

    def _token(self, tok: Token) -> Token:
        return tok

    metric_identifier = maybe_label = match_op = unary_op = function_name = _token

    def aggregate_op(self, tok: Token) -> AggregateOp:
        return AggregateOp(tok)

    # -- literals -------------------------------------------------------------------

    def number_literal(self, tok: Token) -> NumberLiteral:
        if tok.type == "DURATION":
            try:
                ms = parse_duration_ms(tok.value)
            except ValueError as exc:
                raise _fail(str(exc), tok) from None
            return NumberLiteral(ms / 1000, True, span(tok))
        try:
            return NumberLiteral(parse_go_number(tok.value), False, span(tok))
        except ValueError as exc:
            raise _fail(f"error parsing number: {exc}", tok) from None

    def string_literal(self, tok: Token) -> StringLiteral:
        return StringLiteral(unquote(tok.value), span(tok))

    def paren_expr(self, lp: Token, expr: Expr, rp: Token) -> ParenExpr:
        return ParenExpr(expr, (span(lp)[0], span(rp)[1]))

    def unary(self, op: Token, expr: Expr) -> Expr:
        if isinstance(expr, NumberLiteral):
            value = -expr.value if op.type == "SUB" else expr.value
            return NumberLiteral(value, expr.duration, (span(op)[0], expr.pos[1]))
        return UnaryExpr(op.value, expr, (span(op)[0], span(expr)[1]))

    # -- binary operators -------------------------------------------------------------

    def binary_expr(self, lhs: Expr, op: Token, mod: _BinModifier, rhs: Expr) -> BinaryExpr:
        return BinaryExpr(BINARY_OPS[op.type], lhs, rhs, mod.return_bool, mod.matching,
                          (lhs.pos[0], rhs.pos[1]))

    def bin_modifier(self, bool_tok: Token | None, matching: VectorMatching | None,
                     fills: tuple[float | None, float | None] | None) -> _BinModifier:
        vm = matching or VectorMatching()
        if fills is not None:
            vm = dataclasses.replace(vm, fill_lhs=fills[0], fill_rhs=fills[1])
        return _BinModifier(bool_tok is not None, vm)

    def vector_matching(self, kw: Token, labels: tuple[str, ...],
                        group: tuple[str, tuple[str, ...]] | None) -> VectorMatching:
        card, include = group or ("one-to-one", ())
        return VectorMatching(card, labels, kw.type == "ON", include)  # type: ignore[arg-type]

    def group_modifier(self, kw: Token, labels: tuple[str, ...] | None) -> tuple[str, tuple[str, ...]]:
        card = "many-to-one" if kw.type == "GROUP_LEFT" else "one-to-many"
        return card, labels or ()

    def fill_both(self, _kw: Token, v: float) -> tuple[float, float]:
        return v, v

    def fill_left(self, _kw: Token, v: float) -> tuple[float, None]:
        return v, None

    def fill_right(self, _kw: Token, v: float) -> tuple[None, float]:
        return None, v

    def fill_left_right(self, _l: Token, lv: float, _r: Token, rv: float) -> tuple[float, float]:
        return lv, rv

    def fill_right_left(self, _r: Token, rv: float, _l: Token, lv: float) -> tuple[float, float]:
        return lv, rv

    def fill_value(self, _lp: Token, num: NumberLiteral, _rp: Token) -> float:
        return num.value

    def signed_fill_value(self, _lp: Token, op: Token, num: NumberLiteral, _rp: Token) -> float:
        return -num.value if op.type == "SUB" else num.value

    # -- grouping labels -------------------------------------------------------------

    def grouping_labels(self, *children: Any) -> tuple[str, ...]:
        return tuple(children[1]) if len(children) > 2 else ()

    def grouping_label_list(self, *children: Any) -> list[str]:
        return [children[0]] if len(children) == 1 else [*children[0], children[2]]

    def grouping_label(self, tok: Token) -> str:
        return str(tok.value)

    def quoted_grouping_label(self, tok: Token) -> str:
        label = unquote(tok.value)
        if not label:
            raise _fail(f"invalid label name for grouping: {go_quote(label)}", tok)
        return label

    # -- selectors --------------------------------------------------------------------

    def vector_selector(self, name: Token, braces: tuple[list[Matcher], Pos]) -> VectorSelector:
        matchers = (*braces[0], Matcher("__name__", "=", name.value))
        return VectorSelector(name.value, matchers, pos=(span(name)[0], braces[1][1]))

    def bare_metric(self, name: Token) -> VectorSelector:
        return VectorSelector(name.value, (Matcher("__name__", "=", name.value),), pos=span(name))

    def braces_only(self, braces: tuple[list[Matcher], Pos]) -> VectorSelector:
        return VectorSelector(None, tuple(braces[0]), pos=braces[1])

    def label_matchers(self, *children: Any) -> tuple[list[Matcher], Pos]:
        matchers = children[1] if len(children) > 2 else []
        return matchers, (span(children[0])[0], span(children[-1])[1])

    def label_match_list(self, *children: Any) -> list[Matcher]:
        return [children[0]] if len(children) == 1 else [*children[0], children[2]]

    def label_matcher(self, name: Token, op: Token, value: Token) -> Matcher:
        label = name.value if name.type == "IDENTIFIER" else unquote(name.value)
        matcher = Matcher(label, op.value, unquote(value.value))
        try:
            matcher.validate()
        except ValueError as exc:
            raise _fail(str(exc), name) from None
        return matcher

    def name_matcher(self, tok: Token) -> Matcher:
        return Matcher("__name__", "=", unquote(tok.value))

    def matrix_selector(self, expr: Expr, lb: Token, rng: DurationNode, rb: Token) -> MatrixSelector:
        if not isinstance(expr, VectorSelector):
            raise _fail("ranges only allowed for vector selectors", lb)
        if expr.offset_ms or expr.offset_expr is not None:
            raise _fail("no offset modifiers allowed before range", lb)
        if expr.at is not None or expr.at_modifier is not None:
            raise _fail("no @ modifiers allowed before range", lb)
        range_ms, range_expr = self._split_duration(rng)
        return MatrixSelector(expr, range_ms, range_expr, (expr.pos[0], span(rb)[1]))

    def subquery_expr(self, expr: Expr, _lb: Token, rng: DurationNode, _c: Token,
                      step: DurationNode, rb: Token) -> SubqueryExpr:
        range_ms, range_expr = self._split_duration(rng)
        step_ms, step_expr = self._split_duration(step)
        return SubqueryExpr(expr, range_ms, step_ms, range_expr=range_expr, step_expr=step_expr,
                            pos=(expr.pos[0], span(rb)[1]))

    def subquery_default_step(self, expr: Expr, _lb: Token, rng: DurationNode, _c: Token,
                              rb: Token) -> SubqueryExpr:
        range_ms, range_expr = self._split_duration(rng)
        return SubqueryExpr(expr, range_ms, range_expr=range_expr, pos=(expr.pos[0], span(rb)[1]))

    @staticmethod
    def _split_duration(d: DurationNode) -> tuple[int, DurationExpr | None]:
        if isinstance(d, NumberLiteral):
            return _seconds_to_ms(d.value), None
        return 0, d

    # -- offset, @, anchored, smoothed -----------------------------------------------

    @staticmethod
    def _modifier_target(expr: Expr, what: str) -> VectorSelector | SubqueryExpr:
        if isinstance(expr, MatrixSelector):
            return expr.vector
        if isinstance(expr, (VectorSelector, SubqueryExpr)):
            return expr
        raise _fail(f"{what} modifier must be preceded by an instant vector selector "
                    "or range vector selector or a subquery", expr)

    @staticmethod
    def _with_target(expr: Expr, target: VectorSelector | SubqueryExpr, end: int) -> Expr:
        if isinstance(expr, MatrixSelector):
            return dataclasses.replace(expr, vector=target, pos=(expr.pos[0], end))
        return dataclasses.replace(target, pos=(target.pos[0], end))

    def offset_expr(self, expr: Expr, _kw: Token, value: DurationNode) -> Expr:
        target = self._modifier_target(expr, "offset")
        if target.offset_ms or target.offset_expr is not None:
            raise _fail("offset may not be set multiple times", expr)
        if isinstance(value, NumberLiteral):
            target = dataclasses.replace(target, offset_ms=_seconds_to_ms(value.value))
        else:
            target = dataclasses.replace(target, offset_expr=value)
        return self._with_target(expr, target, span(value)[1])

    def at_expr(self, expr: Expr, _kw: Token, value: tuple[str, Any, int]) -> Expr:
        kind, ts, end = value
        if kind == "ts" and (math.isnan(ts) or math.isinf(ts) or abs(ts) >= 2.0**63):
            raise _fail(f"timestamp out of bounds for @ modifier: {_go_float_f(ts)}", expr)
        target = self._modifier_target(expr, "@")
        if target.at is not None or target.at_modifier is not None:
            raise _fail("@ <timestamp> may not be set multiple times", expr)
        if kind == "ts":
            target = dataclasses.replace(target, at=round(ts * 1000) / 1000)
        else:
            target = dataclasses.replace(target, at_modifier=kind)
        return self._with_target(expr, target, end)

    def at_number(self, num: NumberLiteral) -> tuple[str, float, int]:
        return "ts", num.value, num.pos[1]

    def at_signed_number(self, op: Token, num: NumberLiteral) -> tuple[str, float, int]:
        return "ts", (-num.value if op.type == "SUB" else num.value), num.pos[1]

    def at_preprocessor(self, kw: Token, _lp: Token, rp: Token) -> tuple[str, None, int]:
        return kw.type.lower(), None, span(rp)[1]

    def anchored_expr(self, expr: Expr, kw: Token) -> Expr:
        return self._extended_range(expr, kw, "anchored")

    def smoothed_expr(self, expr: Expr, kw: Token) -> Expr:
        return self._extended_range(expr, kw, "smoothed")

    def _extended_range(self, expr: Expr, kw: Token, which: str) -> Expr:
        if isinstance(expr, SubqueryExpr):
            raise _fail(f"{which} modifier is not supported for subqueries", expr)
        if not isinstance(expr, (VectorSelector, MatrixSelector)):
            raise _fail(f"{which} modifier not implemented", expr)
        vs = expr.vector if isinstance(expr, MatrixSelector) else expr
        other = "smoothed" if which == "anchored" else "anchored"
        if getattr(vs, other):
            raise _fail("anchored and smoothed modifiers cannot be used together", expr)
        vs = dataclasses.replace(vs, **{which: True})
        return self._with_target(expr, vs, span(kw)[1])

    # -- duration expressions ------------------------------------------------------------

    def dur_literal(self, tok: Token) -> NumberLiteral:
        lit = self.number_literal(tok)
        if _out_of_range(lit.value):
            raise _fail("duration out of range", tok)
        return lit

    def range_dur(self, d: DurationNode) -> DurationNode:
        if isinstance(d, NumberLiteral) and d.value <= 0:
            raise _fail("duration must be greater than 0", d)
        return d

    def offset_dur(self, d: DurationNode) -> DurationNode:
        return d

    def dur_unary(self, op: Token, d: DurationNode) -> DurationNode:
        if isinstance(d, NumberLiteral):
            value = -d.value if op.type == "SUB" else d.value
            if _out_of_range(value):
                raise _fail("duration out of range", op)
            return NumberLiteral(value, d.duration, (span(op)[0], d.pos[1]))
        if op.type == "SUB":
            return DurationExpr("-", None, d, pos=(span(op)[0], d.pos[1]))
        return d

    def dur_binary(self, lhs: DurationNode, op: Token, rhs: DurationNode) -> DurationExpr:
        if op.type in ("DIV", "MOD") and isinstance(rhs, NumberLiteral) and rhs.value == 0:
            raise _fail("division by zero" if op.type == "DIV" else "modulo by zero", op)
        return DurationExpr(BINARY_OPS[op.type], lhs, rhs, pos=(lhs.pos[0], rhs.pos[1]))

    def dur_paren(self, lp: Token, d: DurationNode, rp: Token) -> DurationExpr:
        pos = (span(lp)[0], span(rp)[1])
        if isinstance(d, DurationExpr):
            return dataclasses.replace(d, wrapped=True, pos=pos)
        return DurationExpr("+", None, d, wrapped=True, pos=pos)

    def dur_nullary(self, kw: Token, _lp: Token, rp: Token) -> DurationExpr:
        return DurationExpr(kw.type.lower(), pos=(span(kw)[0], span(rp)[1]))

    def dur_min_max(self, kw: Token, _lp: Token, a: DurationNode, _c: Token, b: DurationNode,
                    rp: Token) -> DurationExpr:
        return DurationExpr(kw.type.lower(), a, b, pos=(span(kw)[0], span(rp)[1]))

    # -- calls and aggregations ------------------------------------------------------------

    def function_call(self, name: Token, body: CallArgs) -> Call:
        func = get_function(name.value)
        if func is None:
            raise _fail(f"unknown function with name {go_quote(name.value)}", name)
        return Call(func, body.args, (span(name)[0], body.end))

    def no_args(self, _lp: Token, rp: Token) -> CallArgs:
        return CallArgs((), span(rp)[1])

    def function_call_body(self, _lp: Token, args: list[Expr], rp: Token) -> CallArgs:
        return CallArgs(tuple(args), span(rp)[1])

    def first_arg(self, expr: Expr) -> list[Expr]:
        return [expr]

    def more_args(self, args: list[Expr], _c: Token, expr: Expr) -> list[Expr]:
        return [*args, expr]

    def trailing_comma(self, _args: list[Expr], comma: Token) -> list[Expr]:
        raise _fail("trailing commas not allowed in function call args", comma)

    def aggregate_modifier(self, kw: Token, labels: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
        return labels, kw.type == "WITHOUT"

    def aggregate_modifier_first(self, op: AggregateOp, mod: tuple[tuple[str, ...], bool],
                                 body: CallArgs) -> AggregateExpr:
        return self._aggregate(op, mod, body)

    def aggregate_modifier_last(self, op: AggregateOp, body: CallArgs,
                                mod: tuple[tuple[str, ...], bool]) -> AggregateExpr:
        return self._aggregate(op, mod, body)

    def aggregate_plain(self, op: AggregateOp, body: CallArgs) -> AggregateExpr:
        return self._aggregate(op, ((), False), body)

    def _aggregate(self, op: AggregateOp, mod: tuple[tuple[str, ...], bool], body: CallArgs) -> AggregateExpr:
        name = op.token.type.lower()
        pos = (span(op.token)[0], body.end)
        args: Sequence[Expr] = body.args
        if not args:
            raise PositionedError("no arguments for aggregate expression provided", pos[0])
        wanted = 2 if name in AGGREGATORS_WITH_PARAM else 1
        if len(args) != wanted:
            raise PositionedError("wrong number of arguments for aggregate expression provided, "
                                  f"expected {wanted}, got {len(args)}", pos[0])
        param = args[0] if wanted == 2 else None
        return AggregateExpr(name, args[-1], param, mod[0], mod[1], pos)
