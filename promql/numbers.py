"""Go-compatible number parsing and float formatting.

Prometheus parses NUMBER tokens with `strconv.ParseInt(s, 0, 64)` and falls back to
`strconv.ParseFloat`, so `010` is octal 8 and `0x1F` is hex; it prints literals with
`strconv.FormatFloat(v, 'f', -1, 64)` and fill values with `%v`. Reproducing those
exactly keeps values and printed queries identical to Prometheus'.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal

from promql.strings import go_quote

_DECIMAL_FLOAT = re.compile(r"^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}
_INT64_MAX = 2**63 - 1


def _underscores_ok(s: str) -> bool:
    """Go's underscoreOK: `_` only between digits, or right after a base prefix."""
    saw = "^"
    i = 0
    if s[:1] in "+-" and s:
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i, saw, hexa = 2, "0", s[1].lower() == "x"
    for c in s[i:]:
        if c.isdigit() or (hexa and c.lower() in "abcdef"):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
    return saw != "_"


def _parse_int(s: str) -> int | None:
    """strconv.ParseInt(s, 0, 64), None on any error."""
    if not s or ("_" in s and not _underscores_ok(s)):
        return None
    base, body = 10, s
    if s[0] == "0" and len(s) > 1:
        if len(s) >= 3 and s[1].lower() in "box":
            base, body = {"b": 2, "o": 8, "x": 16}[s[1].lower()], s[2:]
        else:
            base, body = 8, s[1:]
    body = body.replace("_", "")
    if not body or any(c not in _DIGITS[base] for c in body):
        return None
    value = int(body, base)
    return value if value <= _INT64_MAX else None


def parse_go_number(s: str) -> float:
    """Value of a NUMBER token; ValueError carries Go's error text."""
    as_int = _parse_int(s)
    if as_int is not None:
        return float(as_int)
    low = s.lower()
    if low in ("inf", "+inf", "infinity", "+infinity"):
        return math.inf
    if low in ("-inf", "-infinity"):
        return -math.inf
    if low == "nan":
        return math.nan
    clean = s.replace("_", "") if _underscores_ok(s) else None
    if clean is None or not _DECIMAL_FLOAT.match(clean):
        raise ValueError(f"strconv.ParseFloat: parsing {go_quote(s)}: invalid syntax")
    value = float(clean)
    if math.isinf(value):
        raise ValueError(f"strconv.ParseFloat: parsing {go_quote(s)}: value out of range")
    return value


def _special(v: float) -> str | None:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return None


def format_float(v: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64): shortest digits, never an exponent."""
    special = _special(v)
    if special:
        return special
    text = format(Decimal(repr(v)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_float_v(v: float) -> str:
    """Go's `%v` for a float64: shortest digits, exponent form outside [1e-4, 1e6)."""
    special = _special(v)
    if special:
        return special
    if v == 0:
        return "-0" if math.copysign(1, v) < 0 else "0"
    sign = "-" if v < 0 else ""
    dec = Decimal(repr(abs(v))).normalize()
    _, digits, exponent = dec.as_tuple()
    exp = len(digits) + int(exponent) - 1
    if exp < -4 or exp >= 6:
        ds = "".join(map(str, digits))
        mantissa = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{sign}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    return sign + format_float(abs(v))
