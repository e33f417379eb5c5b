"""Prometheus-worded messages for LALR syntax errors.

Prometheus' yacc grammar has `error` rules that name the construct being parsed:
`unexpected "}" in label matching, expected string`, `unexpected <by> in aggregation`.
lark has no error rules, so we look at its parser stack when the error happens and
find the innermost construct still open, as yacc's error recovery would.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any, Sequence

from lark import Token

from promql.builder import AggregateOp, CallArgs
from promql.strings import go_quote, go_quote_truncated

_KEYWORDS = frozenset({
    "BOOL", "BY", "GROUP_LEFT", "GROUP_RIGHT", "FILL", "FILL_LEFT", "FILL_RIGHT", "IGNORING",
    "OFFSET", "SMOOTHED", "ANCHORED", "ON", "WITHOUT",
})
_OPERATORS = frozenset({
    "ADD", "DIV", "EQLC", "EQL_REGEX", "GTE", "GTR", "TRIM_UPPER", "TRIM_LOWER", "LAND", "LOR",
    "LSS", "LTE", "LUNLESS", "MOD", "MUL", "NEQ", "NEQ_REGEX", "POW", "SUB", "AT", "ATAN2",
})
_AGGREGATORS = frozenset({
    "AVG", "BOTTOMK", "COUNT", "COUNT_VALUES", "GROUP", "MAX", "MIN", "QUANTILE", "STDDEV",
    "STDVAR", "SUM", "TOPK", "LIMITK", "LIMIT_RATIO",
})
_VALUE_KINDS = MappingProxyType({
    "IDENTIFIER": "identifier", "METRIC_IDENTIFIER": "metric identifier", "STRING": "string",
    "NUMBER": "number", "DURATION": "duration",
})
_MATCH_OPS = frozenset({"EQL", "NEQ", "EQL_REGEX", "NEQ_REGEX"})
_DURATION_WORDS = frozenset({"LEFT_PAREN", "STEP", "RANGE", "MAX_OF", "MIN_OF", "ADD", "SUB"})
_RANGE_EXPECTED = "number, duration, step(), or range()"


def describe_token(tok: Token) -> str:
    """Item.desc(): how Prometheus names a token in `unexpected ...`."""
    typ, val = tok.type, str(tok.value)
    if typ == "$END":
        return "end of input"
    if typ in _KEYWORDS:
        return f"<{val}>"
    if typ in _OPERATORS:
        return f"<op:{val}>"
    if typ in _AGGREGATORS:
        return f"<aggr:{val}>"
    if typ in ("IDENTIFIER", "METRIC_IDENTIFIER"):
        return f"{_VALUE_KINDS[typ]} {go_quote(val)}"
    quoted = go_quote_truncated(val, 10) + "..." if len(val) > 10 else go_quote(val)
    if typ in _VALUE_KINDS:
        return f"{_VALUE_KINDS[typ]} {quoted}"
    return quoted


def unexpected_message(tok: Token, stack: Sequence[Any]) -> str:
    context, expected = _context(stack)
    msg = f"unexpected {describe_token(tok)}"
    if context:
        msg += f" in {context}"
    if expected:
        msg += f", expected {expected}"
    return msg


def _is(x: Any, *types: str) -> bool:
    return isinstance(x, Token) and x.type in types


def _context(stack: Sequence[Any]) -> tuple[str, str]:
    """The (context, expected) of the innermost open construct on the parser stack.

    lark reduces only on a valid lookahead, so a construct that is complete but not yet
    reduced still shows as raw tokens; those are skipped, as yacc would have reduced them.
    """
    for i in range(len(stack) - 1, -1, -1):
        v, after = stack[i], list(stack[i + 1:])
        if _is(v, "LEFT_BRACE") and not _has(after, "RIGHT_BRACE"):
            return "label matching", _in_braces(after)
        if _is(v, "LEFT_BRACKET") and not _has(after, "RIGHT_BRACKET"):
            return _in_brackets(after)
        if (_is(v, "LEFT_PAREN") and not _has(after, "RIGHT_PAREN") and i > 0
                and _is(stack[i - 1], "BY", "WITHOUT", "ON", "IGNORING", "GROUP_LEFT", "GROUP_RIGHT")):
            return "grouping opts", "label" if not after or _is(after[-1], "COMMA") else '"," or ")"'
        if not after and _is(v, "ON", "IGNORING"):
            return "grouping opts", '"("'
        if not after and _is(v, "BY", "WITHOUT") and i > 0 and isinstance(stack[i - 1], (AggregateOp, CallArgs)):
            return "grouping opts", '"("'
        if _is(v, "OFFSET") and _incomplete(after, _DURATION_WORDS):
            return "offset", "number, duration, step(), or range()"
        if _is(v, "AT") and _incomplete(after, {"ADD", "SUB", "START", "END", "LEFT_PAREN"}):
            return "@", "timestamp"
        if isinstance(v, AggregateOp) and after and _aggregation_open(after):
            return "aggregation", ""
    return "", ""


def _has(items: list[Any], typ: str) -> bool:
    return any(_is(x, typ) for x in items)


def _aggregation_open(after: list[Any]) -> bool:
    """Whether the argument list of an aggregation is not complete yet."""
    items = after
    if items and isinstance(items[0], tuple):  # an already reduced `by (...)`
        items = items[1:]
    elif items and _is(items[0], "BY", "WITHOUT"):
        closing = next((i for i, x in enumerate(items) if _is(x, "RIGHT_PAREN")), None)
        if closing is None:
            return True
        items = items[closing + 1:]
    if not items or not (isinstance(items[0], CallArgs) or _is(items[0], "LEFT_PAREN")):
        return True
    if isinstance(items[0], CallArgs):
        return False
    depth = 0
    for x in items:
        if _is(x, "LEFT_PAREN"):
            depth += 1
        elif _is(x, "RIGHT_PAREN"):
            depth -= 1
            if depth == 0:
                return False
    return True


def _incomplete(after: list[Any], partial: frozenset[str] | set[str]) -> bool:
    """True while a modifier's value is still being read (empty, mid-operator, open paren)."""
    if not after or _is(after[-1], *partial):
        return True
    opened = sum(1 for x in after if _is(x, "LEFT_PAREN"))
    return opened > sum(1 for x in after if _is(x, "RIGHT_PAREN"))


def _in_braces(after: list[Any]) -> str:
    if not after or _is(after[-1], "COMMA"):
        return 'identifier or "}"'
    if _is(after[-1], "IDENTIFIER"):
        return "label matching operator"
    if _is(after[-1], *_MATCH_OPS):
        return "string"
    return '"," or "}"'


def _complete_duration(items: list[Any]) -> bool:
    return len(items) == 1 and (not isinstance(items[0], Token) or _is(items[0], "NUMBER", "DURATION"))


def _in_brackets(after: list[Any]) -> tuple[str, str]:
    colon = next((i for i, x in enumerate(after) if _is(x, "COLON")), None)
    if colon is None:
        if _complete_duration(after):
            return "subquery or range", '":" or "]"'
        return "subquery or range selector", _RANGE_EXPECTED
    if _complete_duration(after[colon + 1:]):
        return "subquery selector", '"]"'
    return "subquery selector", 'number, duration, step(), range(), or "]"'
