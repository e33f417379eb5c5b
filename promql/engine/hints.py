"""Select hints: the function or aggregation around each selector, as Prometheus' engine
finds it (`extractFuncFromPath`): the nearest enclosing call or aggregation, and none
through a binary operator. Storage uses it to pick a downsampled aggregate."""
from __future__ import annotations

from promql.ast import AggregateExpr, BinaryExpr, Call, Expr, MatrixSelector, ParenExpr, SubqueryExpr, UnaryExpr, \
    VectorSelector


def select_hints(expr: Expr) -> dict[int, str]:
    """`id(selector)` → function name ("" where there is none)."""
    hints: dict[int, str] = {}

    def walk(node: Expr | None, func: str) -> None:
        if node is None:
            return
        if isinstance(node, VectorSelector):
            hints[id(node)] = func
        elif isinstance(node, MatrixSelector):
            walk(node.vector, func)
        elif isinstance(node, (ParenExpr, UnaryExpr, SubqueryExpr)):
            walk(node.expr, func)
        elif isinstance(node, Call):
            for arg in node.args:
                walk(arg, node.func.name)
        elif isinstance(node, AggregateExpr):
            walk(node.expr, node.op)
            walk(node.param, node.op)
        elif isinstance(node, BinaryExpr):
            walk(node.lhs, "")
            walk(node.rhs, "")

    walk(expr, "")
    return hints
