"""PromQL parsing for MyTSDB: `parse`, `parse_series_selector`, `format_expr`, `ParseError`."""
from promql.ast import (
    AggregateExpr, BinaryExpr, Call, DurationExpr, Expr, MatrixSelector, NumberLiteral, ParenExpr,
    StringLiteral, SubqueryExpr, UnaryExpr, VectorMatching, VectorSelector,
)
from promql.errors import ParseError
from promql.functions import FUNCTIONS, Function
from promql.matchers import Matcher
from promql.parser import parse, parse_series_selector
from promql.printer import format_expr

__all__ = [
    "AggregateExpr", "BinaryExpr", "Call", "DurationExpr", "Expr", "FUNCTIONS", "Function",
    "MatrixSelector", "Matcher", "NumberLiteral", "ParenExpr", "ParseError", "StringLiteral",
    "SubqueryExpr", "UnaryExpr", "VectorMatching", "VectorSelector", "format_expr", "parse",
    "parse_series_selector",
]
