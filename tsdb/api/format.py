"""Prometheus' JSON, byte for byte: query results, values, timestamps, strings.

Clients parse these bodies, but differential tests and caches compare them as text, so
each piece follows the Go code that prints it:

- vector and matrix points: `jsonutil.MarshalTimestamp` (seconds with exactly three
  decimals unless whole: `1.100`, `0.001`) and `jsonutil.MarshalFloat` (shortest digits,
  exponent form below 1e-6 and from 1e21 on);
- scalar and string results: `encoding/json` of `[float64(t)/1000, FormatFloat(v, 'f', -1)]`;
- strings: Go's escaping with HTML-safe `\\u003c`, `\\u003e`, `\\u0026`;
- labels sorted by name, as `labels.Labels` are.
"""
from __future__ import annotations

import re
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Protocol, Sequence

from promql.numbers import format_float

_FRACTIONS = tuple("" if f == 0 else f".{f:03d}" for f in range(1000))
_ESCAPES = MappingProxyType({
    **{i: f"\\u{i:04x}" for i in range(0x20)},
    ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t",
    ord('"'): '\\"', ord("\\"): "\\\\",
    ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
    0x2028: "\\u2028", 0x2029: "\\u2029",
})
_SURROGATES = re.compile("[\ud800-\udfff]")
MAX_ANNOTATIONS = 10  # per kind, as Prometheus' API prints them


class Point(Protocol):
    labels: Mapping[str, str]
    t_ms: int
    value: float


class Series(Protocol):
    labels: Mapping[str, str]
    timestamps: Any  # int64 array
    values: Any      # float64 array


class Result(Protocol):
    """The parts of `promql.engine.QueryResult` this module reads."""

    result_type: str
    scalar: tuple[int, float] | None
    string: tuple[int, str] | None
    vector: Sequence[Point]
    matrix: Sequence[Series]


def format_value(v: float) -> str:
    """jsonutil.MarshalFloat without its quotes: `1`, `0.1`, `1e-07`, `1e+21`, `NaN`, `+Inf`."""
    r = repr(v)
    if "e" in r:  # repr uses an exponent outside [1e-4, 1e16); Go only outside [1e-6, 1e21)
        if 1e-6 <= abs(v) < 1e21:
            return format(Decimal(r), "f")
        return r  # the same shortest digits and two-digit exponent as Go's 'e' format
    if r.endswith(".0"):
        return r[:-2]
    if r == "nan":
        return "NaN"
    if r == "inf":
        return "+Inf"
    if r == "-inf":
        return "-Inf"
    return r


def format_timestamp(t_ms: int) -> str:
    """jsonutil.MarshalTimestamp: `1700000000`, `1700000000.100`, `-0.001`."""
    if t_ms < 0:
        return "-" + format_timestamp(-t_ms)
    s, f = divmod(t_ms, 1000)
    return f"{s}{_FRACTIONS[f]}"


def go_json_float(x: float) -> str:
    """encoding/json's float64: shortest digits, exponent form (`1e-7`) outside [1e-6, 1e21)."""
    a = abs(x)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        r = repr(x)
        return re.sub(r"e-0(\d)$", r"e-\1", r)
    return format_float(x)


def json_string(s: str) -> str:
    """A JSON string literal escaped as Go's encoder (HTML-safe) writes it."""
    out = s.translate(_ESCAPES)
    if not out.isascii() and _SURROGATES.search(out):
        out = _SURROGATES.sub("\ufffd", out)  # Go writes invalid UTF-8 as U+FFFD
    return f'"{out}"'


def go_json(obj: Any) -> str:
    """Plain data (dict, list, str, int, bool, None) as Go's encoder writes it. Dict order
    is kept: sort where Go marshals a map, keep field order where it marshals a struct."""
    if isinstance(obj, str):
        return json_string(obj)
    if isinstance(obj, bool):
        return "true" if obj else "false"
    if obj is None:
        return "null"
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        return go_json_float(obj)
    if isinstance(obj, Mapping):
        return "{" + ",".join(f"{json_string(k)}:{go_json(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(go_json(v) for v in obj) + "]"
    raise TypeError(f"cannot encode {type(obj).__name__}")


def labels_json(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f"{json_string(k)}:{json_string(labels[k])}" for k in sorted(labels)) + "}"


def _points(timestamps: Any, values: Any) -> str:
    ts = timestamps.tolist() if hasattr(timestamps, "tolist") else list(timestamps)
    vs = values.tolist() if hasattr(values, "tolist") else list(values)
    return ",".join([f'[{format_timestamp(t)},"{format_value(v)}"]' for t, v in zip(ts, vs)])


def result_json(result: Result, limit: int = 0) -> tuple[str, bool]:
    """The `data` object of a query answer, and whether `limit` (0: none) cut series off."""
    kind = result.result_type
    truncated = False
    if kind == "scalar":
        t, v = result.scalar
        body = f'[{go_json_float(t / 1000)},"{format_float(v)}"]'
    elif kind == "string":
        t, s = result.string
        body = f"[{go_json_float(t / 1000)},{json_string(s)}]"
    elif kind == "vector":
        items = result.vector
        if limit and len(items) > limit:
            items, truncated = items[:limit], True
        body = "[" + ",".join(
            f'{{"metric":{labels_json(p.labels)},"value":[{format_timestamp(p.t_ms)},"{format_value(p.value)}"]}}'
            for p in items) + "]"
    elif kind == "matrix":
        items = result.matrix
        if limit and len(items) > limit:
            items, truncated = items[:limit], True
        body = "[" + ",".join(
            f'{{"metric":{labels_json(s.labels)},"values":[{_points(s.timestamps, s.values)}]}}'
            for s in items) + "]"
    else:
        raise ValueError(f"unknown result type {kind!r}")
    return f'{{"resultType":"{kind}","result":{body}}}', truncated


def cap_annotations(items: Iterable[str], kind: str) -> list[str]:
    """At most MAX_ANNOTATIONS, then a count of the rest, as Prometheus' `AsStrings`."""
    items = list(items)
    if len(items) <= MAX_ANNOTATIONS:
        return items
    rest = len(items) - MAX_ANNOTATIONS
    return items[:MAX_ANNOTATIONS] + [f"{rest} more {kind} annotations omitted"]


def success_body(data_json: str, warnings: Sequence[str] = (), infos: Sequence[str] = ()) -> bytes:
    """`{"status":"success","data":…}` with `warnings`/`infos` when there are any."""
    parts = ['{"status":"success","data":', data_json]
    if warnings:
        parts += [',"warnings":', go_json(list(warnings))]
    if infos:
        parts += [',"infos":', go_json(list(infos))]
    parts.append("}")
    return "".join(parts).encode("utf-8")


def error_body(error_type: str, message: str) -> bytes:
    return f'{{"status":"error","errorType":{json_string(error_type)},"error":{json_string(message)}}}'.encode()
