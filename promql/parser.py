"""Entry points: PromQL text to a checked AST, with Prometheus-style errors."""
from __future__ import annotations

import itertools
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from lark import Lark, Token
from lark.exceptions import UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer

from promql.ast import Expr, VectorSelector
from promql.builder import AstBuilder
from promql.checker import check, check_selector
from promql.errors import ParseError, PositionedError
from promql.lexer import tokenize
from promql.syntax_errors import unexpected_message


class _TokenStream(Lexer):
    """Hands lark the tokens of our modal lexer (passed in place of the text)."""

    def __init__(self, lexer_conf: Any) -> None:
        pass

    def lex(self, tokens: Any) -> Iterator[Token]:  # type: ignore[override]
        return iter(tokens)


@lru_cache(maxsize=1)
def _lark() -> Lark:
    """The LALR parser, built once per process on first use."""
    grammar = (Path(__file__).with_name("grammar.lark")).read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer=_TokenStream, start=["start", "series_selector"],
                transformer=AstBuilder(), maybe_placeholders=True)


def _run(text: str, start: str) -> Any:
    tokens = tokenize(text)
    first = next(tokens, None)
    if first is None:
        raise PositionedError("no expression found in input", 0)
    try:
        return _lark().parse(itertools.chain([first], tokens), start=start)
    except UnexpectedToken as exc:
        pos = len(text) if exc.token.type == "$END" else exc.token.start_pos
        raise PositionedError(unexpected_message(exc.token, exc.state.value_stack), pos) from None
    except UnexpectedInput as exc:  # pragma: no cover - lark raises UnexpectedToken for LALR
        raise PositionedError(f"unexpected input: {exc}", getattr(exc, "pos_in_stream", 0) or 0) from None


def _raise(text: str, exc: PositionedError) -> ParseError:
    if text == "":
        err = ParseError(exc.message, 0, 0)
        err.args = (f"unknown position: parse error: {exc.message}",)
        return err
    return ParseError.at(text, exc.message, exc.pos)


def parse(text: str) -> Expr:
    """Parse and type-check a PromQL expression; raise ParseError like Prometheus does."""
    try:
        return check(_run(text, "start"), text)
    except PositionedError as exc:
        raise _raise(text, exc) from None


def parse_series_selector(text: str) -> VectorSelector:
    """Parse a plain series selector (the HTTP API's `match[]`), e.g. `up{job="api"}`."""
    try:
        return check_selector(_run(text, "series_selector"), text)
    except PositionedError as exc:
        raise _raise(text, exc) from None
