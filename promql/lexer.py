"""A modal PromQL lexer feeding lark's LALR parser.

PromQL's tokens depend on context: keywords are plain identifiers inside `{...}`,
brackets hold durations and duration arithmetic, `fill` is a keyword only before `(`,
and `Inf`/`NaN` are numbers. Prometheus handles this with a state-machine lexer whose
error texts users see ("unexpected character inside braces", "bad number or duration
syntax", "unclosed left parenthesis"). This module follows the same states and rules
so tokens and messages agree; it is lazy, so a syntax error earlier in the query is
reported before a lexical error later in it, as in Prometheus.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Callable, Iterator, Mapping, Optional

from lark import Token

from promql.errors import PositionedError
from promql.strings import go_quote, go_quote_rune, go_unicode_repr

KEYWORDS: Mapping[str, str] = MappingProxyType({
    "and": "LAND", "or": "LOR", "unless": "LUNLESS", "atan2": "ATAN2",
    "sum": "SUM", "avg": "AVG", "count": "COUNT", "min": "MIN", "max": "MAX",
    "group": "GROUP", "stddev": "STDDEV", "stdvar": "STDVAR", "topk": "TOPK",
    "bottomk": "BOTTOMK", "count_values": "COUNT_VALUES", "quantile": "QUANTILE",
    "limitk": "LIMITK", "limit_ratio": "LIMIT_RATIO",
    "offset": "OFFSET", "smoothed": "SMOOTHED", "anchored": "ANCHORED", "by": "BY",
    "without": "WITHOUT", "on": "ON", "ignoring": "IGNORING", "group_left": "GROUP_LEFT",
    "group_right": "GROUP_RIGHT", "fill": "FILL", "fill_left": "FILL_LEFT",
    "fill_right": "FILL_RIGHT", "bool": "BOOL",
    "start": "START", "end": "END", "step": "STEP", "range": "RANGE",
    "max_of": "MAX_OF", "min_of": "MIN_OF",
    "inf": "NUMBER", "nan": "NUMBER",
})
_FILL_KEYWORDS = frozenset({"FILL", "FILL_LEFT", "FILL_RIGHT"})
_DURATION_KEYWORDS = MappingProxyType({"step": "STEP", "range": "RANGE", "max_of": "MAX_OF", "min_of": "MIN_OF"})
_SINGLE = MappingProxyType({",": "COMMA", "*": "MUL", "/": "DIV", "%": "MOD", "+": "ADD", "-": "SUB", "^": "POW", "@": "AT"})
_DURATION_OPS = MappingProxyType({"+": "ADD", "-": "SUB", "*": "MUL", "/": "DIV", "%": "MOD", "^": "POW", ",": "COMMA"})
_DIGITS = "0123456789"
_HEX_DIGITS = "0123456789abcdefABCDEF"

State = Optional[Callable[[], "State"]]


def _is_space(c: str | None) -> bool:
    return c is not None and c in " \t\n\r"


def _is_alpha(c: str | None) -> bool:
    return c is not None and (c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z"))


def _is_digit(c: str | None) -> bool:
    return c is not None and "0" <= c <= "9"


def _is_alnum(c: str | None) -> bool:
    return _is_alpha(c) or _is_digit(c)


def _is_bad_rune(c: str) -> bool:
    """Characters Go decodes as utf8.RuneError (invalid bytes, or U+FFFD itself)."""
    return c == "\ufffd" or "\ud800" <= c <= "\udfff"


def _digit_val(c: str | None) -> int:
    if c is None:
        return 16
    if "0" <= c <= "9":
        return ord(c) - 48
    if "a" <= c <= "f":
        return ord(c) - 87
    if "A" <= c <= "F":
        return ord(c) - 55
    return 16


def tokenize(text: str) -> Iterator[Token]:
    """Yield the tokens of `text` (comments dropped); raise PositionedError on a lexical error."""
    return _Lexer(text).run()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.start = 0
        self.width = 0
        self.paren_depth = 0
        self.brace_open = False
        self.bracket_open = False
        self.got_colon = False
        self.got_duration = False
        self.string_open = ""
        self.pending: list[Token] = []

    # -- primitives ---------------------------------------------------------------

    def run(self) -> Iterator[Token]:
        state: State = self.lex_statements
        while state is not None:
            state = state()
            if self.pending:
                yield from self.pending
                self.pending.clear()

    def next(self) -> str | None:
        if self.pos >= len(self.text):
            self.width = 0
            return None
        self.width = 1
        self.pos += 1
        return self.text[self.pos - 1]

    def peek(self) -> str | None:
        return self.text[self.pos] if self.pos < len(self.text) else None

    def backup(self) -> None:
        self.pos -= self.width

    def accept(self, valid: str) -> bool:
        c = self.next()
        if c is not None and c in valid:
            return True
        self.backup()
        return False

    def is_next(self, valid: str) -> bool:
        c = self.peek()
        return c is not None and c in valid

    def accept_run(self, valid: str) -> None:
        while self.accept(valid):
            pass

    def emit(self, typ: str) -> None:
        value = self.text[self.start:self.pos]
        self.pending.append(Token(typ, value, self.start, 1, self.start + 1, end_pos=self.pos))
        self.start = self.pos

    def ignore(self) -> None:
        self.start = self.pos

    def error(self, message: str) -> None:
        raise PositionedError(message, self.start)

    # -- states -------------------------------------------------------------------

    def lex_statements(self) -> State:
        if self.brace_open:
            return self.lex_inside_braces
        if self.text.startswith("#", self.pos):
            return self.lex_line_comment
        r = self.next()
        if r is None:
            if self.paren_depth != 0:
                self.error("unclosed left parenthesis")
            if self.bracket_open:
                self.error("unclosed left bracket")
            return None
        if r in _SINGLE:
            self.emit(_SINGLE[r])
        elif _is_space(r):
            return self.lex_space
        elif r == "=":
            t = self.peek()
            if t == "=":
                self.next()
                self.emit("EQLC")
            elif t == "~":
                self.error(f"unexpected character after '=': {go_quote_rune(t)}")
            else:
                self.emit("EQL")
        elif r == "!":
            t = self.next()
            if t != "=":
                self.error(f"unexpected character after '!': {go_quote_rune(t)}")
            self.emit("NEQ")
        elif r in "<>":
            t = self.peek()
            if t in ("=", "/"):
                self.next()
                self.emit({"<=": "LTE", "</": "TRIM_UPPER", ">=": "GTE", ">/": "TRIM_LOWER"}[r + t])
            else:
                self.emit("LSS" if r == "<" else "GTR")
        elif _is_digit(r) or (r == "." and _is_digit(self.peek())):
            self.backup()
            return self.lex_number_or_duration
        elif r in "\"'":
            self.string_open = r
            return self.lex_string
        elif r == "`":
            self.string_open = r
            return self.lex_raw_string
        elif _is_alpha(r) or r == ":":
            if not self.bracket_open:
                self.backup()
                return self.lex_keyword_or_identifier
            if r == ":":
                if self.got_colon:
                    self.error(f"unexpected colon {go_quote_rune(r)}")
                self.emit("COLON")
                self.got_colon = True
                return self.lex_statements
            if r.lower() in "srm" and self.scan_duration_keyword():
                return self.lex_statements
            self.error(f"unexpected character: {go_quote_rune(r)}, expected {go_quote_rune(':')}")
        elif r == "(":
            self.emit("LEFT_PAREN")
            self.paren_depth += 1
        elif r == ")":
            self.emit("RIGHT_PAREN")
            self.paren_depth -= 1
            if self.paren_depth < 0:
                self.error(f"unexpected right parenthesis {go_quote_rune(r)}")
        elif r == "{":
            self.emit("LEFT_BRACE")
            self.brace_open = True
            return self.lex_inside_braces
        elif r == "[":
            if self.bracket_open:
                self.error(f"unexpected left bracket {go_quote_rune(r)}")
            self.got_colon = False
            self.emit("LEFT_BRACKET")
            self.skip_spaces()
            self.bracket_open = True
            return self.lex_duration_expr
        elif r == "]":
            if not self.bracket_open:
                self.error(f"unexpected right bracket {go_quote_rune(r)}")
            self.emit("RIGHT_BRACKET")
            self.bracket_open = False
        else:
            self.error(f"unexpected character: {go_quote_rune(r)}")
        return self.lex_statements

    def lex_inside_braces(self) -> State:
        if self.text.startswith("#", self.pos):
            return self.lex_line_comment
        r = self.next()
        if r is None:
            self.error("unexpected end of input inside braces")
        elif _is_space(r):
            return self.lex_space
        elif _is_alpha(r):
            self.backup()
            return self.lex_identifier
        elif r == ",":
            self.emit("COMMA")
        elif r in "\"'":
            self.string_open = r
            return self.lex_string
        elif r == "`":
            self.string_open = r
            return self.lex_raw_string
        elif r == "=":
            if self.next() == "~":
                self.emit("EQL_REGEX")
            else:
                self.backup()
                self.emit("EQL")
        elif r == "!":
            nr = self.next()
            if nr == "~":
                self.emit("NEQ_REGEX")
            elif nr == "=":
                self.emit("NEQ")
            else:
                self.error(f"unexpected character after '!' inside braces: {go_quote_rune(nr)}")
        elif r == "{":
            self.error(f"unexpected left brace {go_quote_rune(r)}")
        elif r == "}":
            self.emit("RIGHT_BRACE")
            self.brace_open = False
            return self.lex_statements
        else:
            self.error(f"unexpected character inside braces: {go_quote_rune(r)}")
        return self.lex_inside_braces

    def lex_duration_expr(self) -> State:
        r = self.next()
        if r is None:
            self.error("unexpected end of input in duration expression")
        elif r == "]":
            self.emit("RIGHT_BRACKET")
            self.bracket_open = False
            self.got_colon = False
            return self.lex_statements
        elif r == ":":
            self.emit("COLON")
            if not self.got_duration:
                self.error("unexpected colon before duration in duration expression")
            if self.got_colon:
                self.error("unexpected repeated colon in duration expression")
            self.got_colon = True
        elif r == "(":
            self.emit("LEFT_PAREN")
            self.paren_depth += 1
        elif r == ")":
            self.emit("RIGHT_PAREN")
            self.paren_depth -= 1
            if self.paren_depth < 0:
                self.error(f"unexpected right parenthesis {go_quote_rune(r)}")
        elif _is_space(r):
            self.skip_spaces()
        elif r in _DURATION_OPS:
            self.emit(_DURATION_OPS[r])
        elif r.lower() in "srm":
            if not self.scan_duration_keyword():
                self.error(f"unexpected character in duration expression: {go_quote_rune(r)}")
        elif _is_digit(r) or (r == "." and _is_digit(self.peek())):
            self.backup()
            self.got_duration = True
            return self.lex_number_or_duration
        else:
            self.error(f"unexpected character in duration expression: {go_quote_rune(r)}")
        return self.lex_duration_expr

    def lex_escape(self) -> State:
        ch = self.next()
        if ch is not None and ch in ("a", "b", "f", "n", "r", "t", "v", "\\", self.string_open):
            return self.lex_string
        if ch is not None and ch in "01234567":
            n, base, max_val = 3, 8, 255
        elif ch in ("x", "u", "U"):
            n, base, max_val = {"x": (2, 16, 255), "u": (4, 16, 0x10FFFF), "U": (8, 16, 0x10FFFF)}[ch]
            ch = self.next()
        elif ch is None:
            self.error("escape sequence not terminated")
            return None
        else:
            self.error(f"unknown escape sequence {go_unicode_repr(ch)}")
            return None
        x = 0
        while n > 0:
            d = _digit_val(ch)
            if d >= base:
                if ch is None:
                    self.error("escape sequence not terminated")
                self.error(f"illegal character {go_unicode_repr(ch)} in escape sequence")  # type: ignore[arg-type]
            x = x * base + d
            n -= 1
            if n > 0:
                ch = self.next()
        if x > max_val or 0xD800 <= x < 0xE000:
            self.error("escape sequence is an invalid Unicode code point")
        return self.lex_string

    def lex_string(self) -> State:
        while True:
            c = self.next()
            if c == "\\":
                return self.lex_escape
            if c is None or c == "\n":
                self.error("unterminated quoted string")
            if _is_bad_rune(c):  # type: ignore[arg-type]
                self.error("invalid UTF-8 rune")
            if c == self.string_open:
                break
        self.emit("STRING")
        return self.lex_statements

    def lex_raw_string(self) -> State:
        while True:
            c = self.next()
            if c is None:
                self.error("unterminated raw string")
            if _is_bad_rune(c):  # type: ignore[arg-type]
                self.error("invalid UTF-8 rune")
            if c == self.string_open:
                break
        self.emit("STRING")
        return self.lex_statements

    def lex_space(self) -> State:
        while _is_space(self.peek()):
            self.next()
        self.ignore()
        return self.lex_statements

    def skip_spaces(self) -> None:
        while _is_space(self.peek()):
            self.next()
        self.ignore()

    def lex_line_comment(self) -> State:
        self.pos += 1
        r = self.next()
        while r is not None and r not in "\r\n":
            r = self.next()
        self.backup()
        self.ignore()
        return self.lex_statements

    def lex_number_or_duration(self) -> State:
        if self.scan_number():
            self.emit("NUMBER")
            return self.lex_statements
        if self.accept_remaining_duration():
            self.backup()
            self.emit("DURATION")
            return self.lex_statements
        self.error(f"bad number or duration syntax: {go_quote(self.text[self.start:self.pos])}")
        return None

    def accept_remaining_duration(self) -> bool:
        if not self.accept("smhdwy"):
            return False
        self.accept("s")  # "ms"; bad units such as "hs" fail later, in parse_duration_ms
        while self.accept(_DIGITS):
            self.accept_run(_DIGITS)
            if not self.accept("smhdw"):
                return False
            self.accept("s")
        return not _is_alnum(self.next())

    def scan_number(self) -> bool:
        """Consume a number in any PromQL syntax; False if what follows makes it something else."""
        initial = self.pos
        digits = _DIGITS
        if self.accept("0") and self.accept("xX"):
            self.accept("_")
            digits = _HEX_DIGITS
        self.accept(".")
        self.accept(digits)
        dot_seen = exponent_seen = False
        while self.is_next(digits + "._eE"):
            if self.is_next(".") and dot_seen:
                self.accept(".")
                return False
            if self.is_next("eE") and exponent_seen:
                self.accept("eE")
                return False
            if self.accept("."):
                dot_seen = True
                if self.accept("_.") or digits is _HEX_DIGITS:
                    return False
                continue
            if self.accept("eE"):
                exponent_seen = True
                self.accept("+-")
                if self.accept("._eE") or self.peek() is None:
                    return False
                continue
            if self.accept("_"):
                if self.accept("._eE") or self.peek() is None:
                    return False
                continue
            self.accept_run(digits)
        if self.pos == initial:
            return False
        return not _is_alnum(self.peek())

    def scan_duration_keyword(self) -> bool:
        while _is_alpha(self.next()):
            pass
        self.backup()
        typ = _DURATION_KEYWORDS.get(self.text[self.start:self.pos].lower())
        if typ is None:
            return False
        self.emit(typ)
        return True

    def lex_identifier(self) -> State:
        while _is_alnum(self.next()):
            pass
        self.backup()
        self.emit("IDENTIFIER")
        return self.lex_statements

    def lex_keyword_or_identifier(self) -> State:
        while True:
            r = self.next()
            if not (_is_alnum(r) or r == ":"):
                break
        self.backup()
        word = self.text[self.start:self.pos]
        kw = KEYWORDS.get(word.lower())
        if kw in _FILL_KEYWORDS and not self.followed_by_left_paren():
            kw = None
        if kw is not None:
            self.emit(kw)
        else:
            self.emit("METRIC_IDENTIFIER" if ":" in word else "IDENTIFIER")
        return self.lex_statements

    def followed_by_left_paren(self) -> bool:
        rest = self.text[self.pos:].lstrip(" \t\n\r")
        return rest.startswith("(")
