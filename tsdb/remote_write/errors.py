"""Mimir-compatible messages for per-series validation errors.

Why: clients and runbooks match on Mimir's wording and `err-mimir-*` ids, so the
texts follow Mimir's distributor (pkg/distributor/validate.go) byte for byte, minus
the "To adjust the related per-tenant limit..." hint Mimir appends to limit errors
(our limits are configured differently). Go's `%.200s` truncates to 200 runes;
series are rendered like Prometheus' `labels.String()`.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from tsdb.remote_write.decode import DecodedWrite, SeriesError, SeriesLimits

_PRECISION = 200
_LEGACY_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")  # invalid UTF-8, as surrogateescape decodes it
_GO_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
    '"': '\\"', "\\": "\\\\",
}


def go_quote(s: str) -> str:
    """Go's strconv.Quote; surrogate-escaped bytes (invalid UTF-8) print as `\\xNN`."""
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return f'"{s}"'
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif ch.isprintable():  # same classes as Go's unicode.IsPrint: L, M, N, P, S and ' '
            out.append(ch)
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def format_labels(pairs: Iterable[tuple[str, str]]) -> str:
    """Prometheus' labels.String(): `{__name__="up", job="api"}`; names that are not
    legacy-valid are quoted too, as Prometheus 3 does."""
    parts = []
    for name, value in pairs:
        shown = name if _LEGACY_LABEL_NAME.fullmatch(name) else go_quote(name)
        parts.append(f"{shown}={go_quote(value)}")
    return "{" + ", ".join(parts) + "}"


def _s(text: str, precision: int | None = _PRECISION) -> str:
    """Go's `%.200s`: the first 200 runes (an invalid byte counts as one rune);
    invalid bytes become U+FFFD so the message is valid UTF-8."""
    if precision is not None:
        text = text[:precision]
    return _ESCAPED_BYTES.sub(lambda m: "\ufffd" * len(m.group()), text)


def _valid_utf8(text: str) -> str:
    """Go's strings.ToValidUTF8(s, "\\uFFFD"): each run of invalid bytes becomes one U+FFFD."""
    return _ESCAPED_BYTES.sub("\ufffd", text)


def _remove_non_ascii(text: str) -> str:
    """Mimir's removeNonASCIIChars, used for invalid metric names."""
    ascii_only = "".join(ch for ch in text if ord(ch) < 0x80)
    return ascii_only if len(ascii_only) == len(text) else ascii_only + " (non-ascii characters removed)"


def _id(message: str, error_id: str) -> str:
    return f"{message} (err-mimir-{error_id})"


def format_series_error(decoded: DecodedWrite, i: int, limits: SeriesLimits) -> str:
    """Mimir's message for the validation error of series `i` (ValueError if it has none)."""
    code = SeriesError(int(decoded.error_code[i]))
    if code is SeriesError.OK:
        raise ValueError(f"series {i} has no validation error")
    pairs = decoded.series_labels(i)
    at = int(decoded.error_label[i])
    name, value = pairs[at] if at >= 0 else ("", "")
    metric = next((v for n, v in pairs if n == "__name__"), "")
    series = format_labels(pairs)

    if code is SeriesError.MISSING_METRIC_NAME:
        return _id("received series has no metric name", "missing-metric-name")
    if code is SeriesError.INVALID_METRIC_NAME:
        return _id(
            f"received a series with invalid metric name: '{_s(_remove_non_ascii(metric))}'", "metric-name-invalid"
        )
    if code is SeriesError.TOO_MANY_LABELS:
        ellipsis = "\u2026" if len(series) > _PRECISION else ""
        return _id(
            "received a series whose number of labels exceeds the limit "
            f"(actual: {len(pairs)}, limit: {limits.max_label_names_per_series}) series: '{_s(series)}{ellipsis}'",
            "max-label-names-per-series",
        )
    if code is SeriesError.INVALID_LABEL_NAME:
        return _id(
            f"received a series with an invalid label: '{_s(name)}' series: '{_s(series)}'", "label-invalid"
        )
    if code is SeriesError.DUPLICATE_LABEL_NAME:
        return _id(
            f"received a series with duplicate label name, label: '{_s(name)}' series: '{_s(series)}'",
            "duplicate-label-names",
        )
    if code is SeriesError.LABEL_NAME_TOO_LONG:
        return _id(
            "received a series whose label name length exceeds the limit, "
            f"label: '{_s(name)}' series: '{_s(series)}'",
            "label-name-too-long",
        )
    if code is SeriesError.LABEL_VALUE_TOO_LONG:
        return _id(
            "received a series whose label value length exceeds the limit, "
            f"label: '{_s(name, None)}', value: '{_s(value)}' (truncated) series: '{_s(series)}'",
            "label-value-too-long",
        )
    if code is SeriesError.LABEL_VALUE_INVALID_UTF8:
        return _id(
            f"received a series with invalid value in label '{_s(name)}': '{_s(_valid_utf8(value))}' "
            f"metric: '{_s(metric)}'",
            "label-value-invalid",
        )
    return _id(f"native histograms are not supported yet: series '{_s(series)}'", "native-histogram-unsupported")
