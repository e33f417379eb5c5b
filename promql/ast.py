"""PromQL abstract syntax tree: immutable nodes mirroring Prometheus' parser.Node types.

Nodes are frozen dataclasses so a parsed query can be shared, hashed and compared
(`parse(format_expr(e)) == e` is the printer's contract). Source positions are kept in
a `pos` field that takes no part in equality, because error messages need them but two
spellings of one query must compare equal.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Union

from promql.functions import Function
from promql.matchers import Matcher

ValueType = Literal["scalar", "vector", "matrix", "string"]
AtModifier = Literal["start", "end"]
Card = Literal["one-to-one", "many-to-one", "one-to-many", "many-to-many"]
Pos = tuple[int, int]

_NO_POS: Pos = (0, 0)


def _pos() -> Pos:
    return field(default=_NO_POS, compare=False, repr=False)  # type: ignore[return-value]


def _float_key(v: float | None) -> object:
    """NaN never equals itself; map it to a marker so literal NaNs compare equal."""
    return "NaN" if v is not None and math.isnan(v) else v


@dataclass(frozen=True, eq=False)
class NumberLiteral:
    """A float literal; `duration` records that it was written as a duration (`5m`)."""

    value: float
    duration: bool = False
    pos: Pos = _pos()

    @property
    def type(self) -> ValueType:
        return "scalar"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumberLiteral):
            return NotImplemented
        return (_float_key(self.value), self.duration) == (_float_key(other.value), other.duration)

    def __hash__(self) -> int:
        return hash((NumberLiteral, _float_key(self.value), self.duration))


@dataclass(frozen=True)
class StringLiteral:
    value: str
    pos: Pos = _pos()

    @property
    def type(self) -> ValueType:
        return "string"


@dataclass(frozen=True)
class DurationExpr:
    """Arithmetic on durations inside `[...]` or after `offset` (Prometheus 3 experimental).

    `op` is one of `+ - * / % ^ step range min_of max_of`; a unary op has `lhs=None`.
    Leaves are NumberLiterals holding seconds. `wrapped` records source parentheses.
    """

    op: str
    lhs: DurationNode | None = None
    rhs: DurationNode | None = None
    wrapped: bool = False
    pos: Pos = _pos()

    @property
    def type(self) -> ValueType:
        return "scalar"


DurationNode = Union[NumberLiteral, DurationExpr]


@dataclass(frozen=True)
class VectorSelector:
    """`name{matchers}`; `matchers` includes the `__name__` matcher when `name` is given."""

    name: str | None
    matchers: tuple[Matcher, ...]
    offset_ms: int = 0
    at: float | None = None
    at_modifier: AtModifier | None = None
    offset_expr: DurationNode | None = None
    anchored: bool = False
    smoothed: bool = False
    pos: Pos = _pos()

    @property
    def type(self) -> ValueType:
        return "vector"


@dataclass(frozen=True)
class MatrixSelector:
    """`selector[range]`; modifiers (offset, @) live on the inner VectorSelector."""

    vector: VectorSelector
    range_ms: int
    range_expr: DurationExpr | None = None
    pos: Pos = _pos()

    @property
    def type(self) -> ValueType:
        return "matrix"


@dataclass(frozen=True)
class SubqueryExpr:
    """`expr[range:step]`; `step_ms == 0` means the engine's default step."""

    expr: Expr
    range_ms: int
    step_ms: int = 0
    offset_ms: int = 0
    at: float | None = None
    at_modifier: AtModifier | None = None
    range_expr: DurationExpr | None = None
    step_expr: DurationExpr | None = None
    offset_expr: DurationNode | None = None
    pos: Pos = _pos()

    @property
    def type(self) -> ValueType:
        return "matrix"


@dataclass(frozen=True)
class Call:
    func: Function
    args: tuple[Expr, ...]
    pos: Pos = _pos()

    @property
    def type(self) -> ValueType:
        return self.func.return_type


@dataclass(frozen=True)
class AggregateExpr:
    """`op by|without (grouping) ([param,] expr)`; `op` is the lower-case operator name."""

    op: str
    expr: Expr
    param: Expr | None = None
    grouping: tuple[str, ...] = ()
    without: bool = False
    pos: Pos = _pos()

    @property
    def type(self) -> ValueType:
        return "vector"


@dataclass(frozen=True, eq=False)
class VectorMatching:
    """How the two sides of a vector/vector binary operation are paired.

    `fill_lhs`/`fill_rhs` are the Prometheus 3 `fill*()` modifiers (None = not set).
    """

    card: Card = "one-to-one"
    labels: tuple[str, ...] = ()
    on: bool = False
    include: tuple[str, ...] = ()
    fill_lhs: float | None = None
    fill_rhs: float | None = None

    def _key(self) -> tuple[object, ...]:
        return (self.card, self.labels, self.on, self.include,
                _float_key(self.fill_lhs), _float_key(self.fill_rhs))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VectorMatching):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(frozen=True)
class BinaryExpr:
    """`lhs op rhs`; `matching` is None unless both sides are instant vectors."""

    op: str
    lhs: Expr
    rhs: Expr
    return_bool: bool = False
    matching: VectorMatching | None = None
    pos: Pos = _pos()

    @property
    def type(self) -> ValueType:
        if self.lhs.type == "scalar" and self.rhs.type == "scalar":
            return "scalar"
        return "vector"


@dataclass(frozen=True)
class UnaryExpr:
    op: str
    expr: Expr
    pos: Pos = _pos()

    @property
    def type(self) -> ValueType:
        return self.expr.type


@dataclass(frozen=True)
class ParenExpr:
    expr: Expr
    pos: Pos = _pos()

    @property
    def type(self) -> ValueType:
        return self.expr.type


Expr = Union[
    NumberLiteral, StringLiteral, VectorSelector, MatrixSelector, SubqueryExpr, Call,
    AggregateExpr, BinaryExpr, UnaryExpr, ParenExpr,
]

COMPARISON_OPS = frozenset({"==", "!=", "<=", "<", ">=", ">"})
SET_OPS = frozenset({"and", "or", "unless"})
AGGREGATORS_WITH_PARAM = frozenset({"topk", "bottomk", "count_values", "quantile", "limitk", "limit_ratio"})


def documented_type(t: str) -> str:
    """Prometheus' user-facing type names, used in error messages."""
    return {"vector": "instant vector", "matrix": "range vector"}.get(t, t)
