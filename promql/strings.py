"""Go-compatible string quoting and unquoting.

PromQL strings follow Go's escape rules, and Prometheus prints strings and error
messages with Go's `strconv.Quote`; matching both exactly keeps printed queries and
error texts identical to Prometheus'. Bytes that are not valid UTF-8 (from `\\xHH` or
octal escapes) are kept as surrogate escapes, so they survive a round trip.
"""
from __future__ import annotations

from types import MappingProxyType

_SIMPLE_ESCAPES = MappingProxyType({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"})
_UNESCAPES = MappingProxyType({"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, "'": 39, '"': 34})


def _is_print(c: str) -> bool:
    """Go's unicode.IsPrint: graphic characters plus the ASCII space."""
    o = ord(c)
    if o < 0x80:
        return 0x20 <= o < 0x7F
    return c.isprintable()


def _escape(c: str, quote: str) -> str:
    o = ord(c)
    if 0xDC80 <= o <= 0xDCFF:  # an invalid UTF-8 byte kept as surrogate escape
        return f"\\x{o - 0xDC00:02x}"
    if c == quote or c == "\\":
        return "\\" + c
    if _is_print(c):
        return c
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c]
    if o < 0x20 or o == 0x7F:
        return f"\\x{o:02x}"
    if 0xD800 <= o < 0xE000:
        return "\\ufffd"
    if o < 0x10000:
        return f"\\u{o:04x}"
    return f"\\U{o:08x}"


def go_quote(s: str) -> str:
    """strconv.Quote: a double-quoted Go string literal."""
    return '"' + "".join(_escape(c, '"') for c in s) + '"'


def go_quote_rune(c: str | None) -> str:
    """strconv.QuoteRune (`%q` of a rune); None stands for end of input."""
    return "'" + _escape("\ufffd" if c is None else c, "'") + "'"


def go_quote_truncated(s: str, n: int) -> str:
    """`%.{n}q`: quote at most the first n characters."""
    return go_quote(s[:n])


def go_unicode_repr(c: str) -> str:
    """`%#U`: `U+0063 'c'`, or just `U+000A` when not printable."""
    o = ord(c)
    if _is_print(c):
        return f"U+{o:04X} '{c}'"
    return f"U+{o:04X}"


def unquote(token: str) -> str:
    """The value of a lexed string token (quotes included); escapes were validated by the lexer."""
    quote, body = token[0], token[1:-1]
    if quote == "`":
        return body
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8", "surrogateescape")
            i += 1
            continue
        e = body[i + 1]
        if e in _UNESCAPES:
            out.append(_UNESCAPES[e])
            i += 2
        elif e in "01234567":
            out.append(int(body[i + 1:i + 4], 8) & 0xFF)
            i += 4
        elif e == "x":
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
        else:  # u or U
            width = 4 if e == "u" else 8
            out += chr(int(body[i + 2:i + 2 + width], 16)).encode("utf-8")
            i += 2 + width
    return out.decode("utf-8", "surrogateescape")
