"""Prometheus duration strings (`1h30m`, `5m`, `1y`) to and from milliseconds.

Parsing follows `model.ParseDuration` (units y w d h m s ms, strictly descending, no
repeats) with its error texts; printing follows `model.Duration.String`, which shows
years and weeks only when they divide the value exactly (`90d`, not `12w6d`).
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from promql.strings import go_quote

_UNITS: Mapping[str, tuple[int, int]] = MappingProxyType({  # unit -> (order, milliseconds)
    "y": (0, 365 * 24 * 3600 * 1000),
    "w": (1, 7 * 24 * 3600 * 1000),
    "d": (2, 24 * 3600 * 1000),
    "h": (3, 3600 * 1000),
    "m": (4, 60 * 1000),
    "s": (5, 1000),
    "ms": (6, 1),
})
_MAX_NS = 2**63 - 1


def parse_duration_ms(text: str) -> int:
    """Milliseconds in a duration string; ValueError carries Prometheus' message."""
    if text == "0":
        return 0
    if text == "":
        raise ValueError("empty duration string")
    invalid = f"not a valid duration string: {go_quote(text)}"
    rest, total_ns, last_order = text, 0, -1
    while rest:
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        if i == 0:
            raise ValueError(invalid)
        value, rest = int(rest[:i]), rest[i:]
        i = 0
        while i < len(rest) and not rest[i].isdigit():
            i += 1
        if i == 0:
            raise ValueError(invalid)
        unit, rest = rest[:i], rest[i:]
        if unit not in _UNITS:
            raise ValueError(f"unknown unit {go_quote(unit)} in duration {go_quote(text)}")
        order, mult_ms = _UNITS[unit]
        if order <= last_order:
            raise ValueError(invalid)
        last_order = order
        mult_ns = mult_ms * 1_000_000
        if value > (1 << 63) // mult_ns:
            raise ValueError("duration out of range")
        total_ns += value * mult_ns
        if total_ns > _MAX_NS:
            raise ValueError("duration out of range")
    return total_ns // 1_000_000


def format_duration_ms(ms: int) -> str:
    """model.Duration.String for a non-negative number of milliseconds."""
    if ms == 0:
        return "0s"
    out = []
    for unit, (_, size) in _UNITS.items():
        exact_only = unit in ("y", "w")
        if exact_only and ms % size:
            continue
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out)


def format_signed_duration_ms(ms: int) -> str:
    return "-" + format_duration_ms(-ms) if ms < 0 else format_duration_ms(ms)
