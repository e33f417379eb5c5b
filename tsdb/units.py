"""Parsing and printing of durations and byte sizes as they appear in config files.

Durations use Prometheus' syntax (`1h30m`, `100y`, `90s`, `500ms`), so a Mimir user's
values carry over unchanged. Byte sizes accept plain integers or `KB/MB/GB` (powers of
1000) and `KiB/MiB/GiB` (powers of 1024).
"""
from __future__ import annotations

import re

_DURATION_UNITS_MS: dict[str, int] = {
    "y": 365 * 24 * 3600 * 1000,
    "w": 7 * 24 * 3600 * 1000,
    "d": 24 * 3600 * 1000,
    "h": 3600 * 1000,
    "m": 60 * 1000,
    "s": 1000,
    "ms": 1,
}
_DURATION_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_FACTORS = {
    "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
    "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4,
}


def parse_duration_ms(text: str | int | float) -> int:
    """Parse a Prometheus duration (or a bare number of seconds) into milliseconds."""
    if isinstance(text, bool):
        raise ValueError(f"invalid duration {text!r}")
    if isinstance(text, (int, float)):
        if text < 0:
            raise ValueError(f"invalid duration {text!r}: must not be negative")
        return int(round(text * 1000))
    s = str(text).strip()
    if s == "0":
        return 0
    m = _DURATION_RE.match(s)
    if not s or m is None or not any(m.groups()):
        raise ValueError(f"invalid duration {text!r} (examples: 90s, 5m, 1h30m, 100y)")
    total = 0
    for value, unit in zip(m.groups(), ("y", "w", "d", "h", "m", "s", "ms")):
        if value:
            total += int(value) * _DURATION_UNITS_MS[unit]
    return total


def format_duration_ms(ms: int) -> str:
    """Print milliseconds as Prometheus' model.Duration does (`1h30m`, `0s`)."""
    if ms == 0:
        return "0s"
    out = []
    for unit in ("y", "w", "d", "h", "m", "s", "ms"):
        size = _DURATION_UNITS_MS[unit]
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out)


def parse_bytes(text: str | int) -> int:
    """Parse a byte size: an integer, or a number with a unit such as `512MB` or `100MiB`."""
    if isinstance(text, bool):
        raise ValueError(f"invalid size {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"invalid size {text!r}: must not be negative")
        return text
    m = _SIZE_RE.match(str(text))
    if m is None:
        raise ValueError(f"invalid size {text!r} (examples: 1048576, 512MB, 100MiB)")
    return int(float(m.group(1)) * _SIZE_FACTORS[(m.group(2) or "B").upper()])
