"""Type checking of a parsed expression, in Prometheus' order and with its messages.

Besides validating, the pass returns the final AST: binary operations between
non-vectors lose their vector matching, set operations become many-to-many, and
selector matchers are put in canonical order (name matcher first, the rest sorted as
printed), so two spellings of a query compare equal. Prometheus does the same
normalisation in place; our nodes are frozen, hence the rebuild.
"""
from __future__ import annotations

import dataclasses

from promql.ast import (
    COMPARISON_OPS, SET_OPS, AggregateExpr, BinaryExpr, Call, Expr, MatrixSelector,
    NumberLiteral, ParenExpr, StringLiteral, SubqueryExpr, UnaryExpr, VectorSelector,
    documented_type,
)
from promql.errors import PositionedError
from promql.matchers import Matcher
from promql.printer import format_matcher
from promql.strings import go_quote

def check(expr: Expr, text: str) -> Expr:
    """Validate `expr` (parsed from `text`) and return its normalised form."""
    return _Checker(text).check(expr)


def check_selector(vs: VectorSelector, text: str) -> VectorSelector:
    return _Checker(text).vector_selector(vs)


class _Checker:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, message: str, pos: int) -> PositionedError:
        return PositionedError(message, pos)

    def check(self, node: Expr, bypass_empty_check: bool = False) -> Expr:
        if isinstance(node, (NumberLiteral, StringLiteral)):
            return node
        if isinstance(node, VectorSelector):
            return self.vector_selector(node, bypass_empty_check)
        if isinstance(node, MatrixSelector):
            return dataclasses.replace(node, vector=self.vector_selector(node.vector))
        if isinstance(node, ParenExpr):
            return dataclasses.replace(node, expr=self.check(node.expr))
        if isinstance(node, UnaryExpr):
            inner = self.check(node.expr)
            if inner.type not in ("scalar", "vector"):
                raise self.fail("unary expression only allowed on expressions of type scalar or "
                                f"instant vector, got {go_quote(documented_type(inner.type))}", node.pos[0])
            return dataclasses.replace(node, expr=inner)
        if isinstance(node, SubqueryExpr):
            inner = self.check(node.expr)
            if inner.type != "vector":
                raise self.fail(f"subquery is only allowed on instant vector, got {inner.type} instead",
                                node.pos[0])
            return dataclasses.replace(node, expr=inner)
        if isinstance(node, AggregateExpr):
            return self.aggregate(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, BinaryExpr):
            return self.binary(node)
        raise TypeError(f"unknown node type: {type(node).__name__}")

    def expect(self, node: Expr, want: str, context: str) -> Expr:
        checked = self.check(node)
        if checked.type != want:
            raise self.fail(f"expected type {documented_type(want)} in {context}, "
                            f"got {documented_type(checked.type)}", node.pos[0])
        return checked

    def vector_selector(self, vs: VectorSelector, bypass_empty_check: bool = False) -> VectorSelector:
        if vs.name is not None:
            for m in _split_name_matcher(vs)[1]:
                if m.name == "__name__":
                    raise self.fail(f"metric name must not be set twice: {go_quote(vs.name)} or "
                                    f"{go_quote(m.value)}", vs.pos[0])
        elif not bypass_empty_check and all(m.matches("") for m in vs.matchers):
            raise self.fail("vector selector must contain at least one non-empty matcher", vs.pos[0])
        return dataclasses.replace(vs, matchers=_canonical_matchers(vs))

    def aggregate(self, node: AggregateExpr) -> AggregateExpr:
        expr = self.expect(node.expr, "vector", "aggregation expression")
        param = node.param
        if param is not None:
            want = "string" if node.op == "count_values" else "scalar"
            param = self.expect(param, want, "aggregation parameter")
        return dataclasses.replace(node, expr=expr, param=param)

    def call(self, node: Call) -> Call:
        fn, args = node.func, node.args
        nargs = len(fn.arg_types)
        if fn.variadic == 0:
            if nargs != len(args):
                raise self.fail(f"expected {nargs} argument(s) in call to {go_quote(fn.name)}, "
                                f"got {len(args)}", node.pos[0])
        else:
            least = nargs - 1
            if least > len(args):
                raise self.fail(f"expected at least {least} argument(s) in call to {go_quote(fn.name)}, "
                                f"got {len(args)}", node.pos[0])
            if fn.variadic > 0 and least + fn.variadic < len(args):
                raise self.fail(f"expected at most {least + fn.variadic} argument(s) in call to "
                                f"{go_quote(fn.name)}, got {len(args)}", node.pos[0])
        bypass = self.info_selector_checks(node)
        checked = []
        for i, arg in enumerate(args):
            if i >= nargs:
                if fn.variadic == 0:
                    break
                i = nargs - 1
            got = self.check(arg, bypass_empty_check=bypass and i == 1)
            if got.type != fn.arg_types[i]:
                raise self.fail(f"expected type {documented_type(fn.arg_types[i])} in call to function "
                                f"{go_quote(fn.name)}, got {documented_type(got.type)}", arg.pos[0])
            checked.append(got)
        return dataclasses.replace(node, args=tuple(checked) + tuple(args[len(checked):]))

    def info_selector_checks(self, node: Call) -> bool:
        """info()'s second argument must be a bare label selector; it may match empty values."""
        if node.func.name != "info" or len(node.args) < 2:
            return False
        data = node.args[1]
        if data.type != "vector":
            raise self.fail(f"expected type instant vector in call to function \"info\", "
                            f"got {documented_type(data.type)}", node.pos[0])
        if isinstance(data, VectorSelector):
            if data.name is not None:
                raise self.fail("expected label selectors only, got vector selector instead", data.pos[0])
            return True
        raise self.fail("expected label selectors only", data.pos[0])

    def op_pos(self, node: BinaryExpr) -> int:
        pos = node.lhs.pos[1]
        while pos < len(self.text) and self.text[pos] in " \t\n\r":
            pos += 1
        return pos

    def binary(self, node: BinaryExpr) -> BinaryExpr:
        lhs, rhs = self.check(node.lhs), self.check(node.rhs)
        lt, rt, op, vm = lhs.type, rhs.type, node.op, node.matching
        if node.return_bool and op not in COMPARISON_OPS:
            raise self.fail("bool modifier can only be used on comparison operators", self.op_pos(node))
        if op in COMPARISON_OPS and not node.return_bool and lt == "scalar" and rt == "scalar":
            raise self.fail("comparisons between scalars must use BOOL modifier", self.op_pos(node))
        if vm is not None and op in SET_OPS and vm.card == "one-to-one":
            vm = dataclasses.replace(vm, card="many-to-many")
        if vm is not None and vm.on:
            for label in vm.labels:
                if label in vm.include:
                    raise self.fail(f"label {go_quote(label)} must not occur in ON and GROUP clause at once",
                                    self.op_pos(node))
        if lt not in ("scalar", "vector"):
            raise self.fail("binary expression must contain only scalar and instant vector types", lhs.pos[0])
        if rt not in ("scalar", "vector"):
            raise self.fail("binary expression must contain only scalar and instant vector types", rhs.pos[0])
        has_fill = vm is not None and (vm.fill_lhs is not None or vm.fill_rhs is not None)
        if (lt != "vector" or rt != "vector") and vm is not None:
            if vm.labels:
                raise self.fail("vector matching only allowed between instant vectors", node.pos[0])
            if has_fill:
                raise self.fail("filling in missing series only allowed between instant vectors", node.pos[0])
            vm = None
        elif op in SET_OPS and vm is not None:
            if vm.card in ("one-to-many", "many-to-one"):
                raise self.fail(f"no grouping allowed for {go_quote(op)} operation", node.pos[0])
            if vm.card != "many-to-many":
                raise self.fail("set operations must always be many-to-many", node.pos[0])
            if has_fill:
                raise self.fail("filling in missing series not allowed for set operators", node.pos[0])
        if (lt == "scalar" or rt == "scalar") and op in SET_OPS:
            raise self.fail(f"set operator {go_quote(op)} not allowed in binary scalar expression", node.pos[0])
        return dataclasses.replace(node, lhs=lhs, rhs=rhs, matching=vm)


def _split_name_matcher(vs: VectorSelector) -> tuple[list[Matcher], list[Matcher]]:
    """Separate the matcher implied by a name outside the braces from the braces' own."""
    rest = list(vs.matchers)
    if vs.name is not None:
        implied = Matcher("__name__", "=", vs.name)
        for i in range(len(rest) - 1, -1, -1):
            if rest[i] == implied:
                return [rest.pop(i)], rest
    return [], rest


def _canonical_matchers(vs: VectorSelector) -> tuple[Matcher, ...]:
    head, rest = _split_name_matcher(vs)
    return tuple(head + sorted(rest, key=format_matcher))
