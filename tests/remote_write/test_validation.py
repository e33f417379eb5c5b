"""Per-series validation codes, their precedence, and Mimir's error messages."""
from __future__ import annotations

import random

import pytest

from schemas.prompb import remote_pb2
from tsdb.remote_write import SeriesError, SeriesLimits, decode_write_request, format_labels, format_series_error

from .rwtools import enc_series

LIMITS = SeriesLimits(max_label_names_per_series=5, max_label_name_length=20, max_label_value_length=30)


def decode_one(labels: list[tuple[str, str]], limits: SeriesLimits = LIMITS, histograms: int = 0):
    req = remote_pb2.WriteRequest()
    ts = req.timeseries.add()
    for n, v in labels:
        ts.labels.add(name=n, value=v)
    ts.samples.add(value=1.0, timestamp=1)
    for _ in range(histograms):
        ts.histograms.add(count_int=1, schema=0)
    d = decode_write_request(req.SerializeToString(), limits)
    return d, int(d.error_code[0]), int(d.error_label[0])


def decode_raw(labels: list[tuple[bytes, bytes]], limits: SeriesLimits = LIMITS):
    d = decode_write_request(enc_series(labels, [(1.0, 1)]), limits)
    return d, int(d.error_code[0]), int(d.error_label[0])


def test_valid_series() -> None:
    d, code, at = decode_one([("job", "api"), ("__name__", "up"), ("empty", "")])
    assert (code, at) == (SeriesError.OK, -1)
    assert d.series_labels(0) == [("__name__", "up"), ("job", "api")]
    with pytest.raises(ValueError):
        format_series_error(d, 0, LIMITS)


@pytest.mark.parametrize("labels", [[("job", "x")], [("__name__", ""), ("job", "x")], []])
def test_missing_metric_name(labels) -> None:
    d, code, at = decode_one(labels)
    assert (code, at) == (SeriesError.MISSING_METRIC_NAME, -1)
    assert format_series_error(d, 0, LIMITS) == "received series has no metric name (err-mimir-missing-metric-name)"


def test_invalid_metric_name() -> None:
    d, code, at = decode_one([("job", "x"), ("__name__", "9up"), ("a", "b")])
    assert (code, at) == (SeriesError.INVALID_METRIC_NAME, 0)
    assert format_series_error(d, 0, LIMITS) == (
        "received a series with invalid metric name: '9up' (err-mimir-metric-name-invalid)"
    )
    d, code, _ = decode_one([("__name__", "métric€")])
    assert code == SeriesError.INVALID_METRIC_NAME
    assert format_series_error(d, 0, LIMITS) == (
        "received a series with invalid metric name: 'mtric (non-ascii characters removed)' "
        "(err-mimir-metric-name-invalid)"
    )
    for ok in ("a:b", "_x", ":", "A9_:z"):
        assert decode_one([("__name__", ok)])[1] == SeriesError.OK


def test_invalid_label_name() -> None:
    d, code, at = decode_one([("__name__", "up"), ("job", "x"), ("a-b", "1")])
    assert (code, at) == (SeriesError.INVALID_LABEL_NAME, 1)  # sorted: __name__, a-b, job
    assert format_series_error(d, 0, LIMITS) == (
        "received a series with an invalid label: 'a-b' series: '{__name__=\"up\", \"a-b\"=\"1\", job=\"x\"}' "
        "(err-mimir-label-invalid)"
    )
    for bad in ("", "1a", "a:b", "é"):
        assert decode_one([("__name__", "up"), (bad, "v")])[1] == SeriesError.INVALID_LABEL_NAME


def test_duplicate_label_name() -> None:
    d, code, at = decode_one([("job", "b"), ("__name__", "up"), ("job", "a")])
    assert (code, at) == (SeriesError.DUPLICATE_LABEL_NAME, 2)
    assert d.series_labels(0) == [("__name__", "up"), ("job", "b"), ("job", "a")]  # stable sort
    assert format_series_error(d, 0, LIMITS) == (
        "received a series with duplicate label name, label: 'job' series: "
        "'{__name__=\"up\", job=\"b\", job=\"a\"}' (err-mimir-duplicate-label-names)"
    )
    # a duplicate whose second value is empty is just an absent label
    assert decode_one([("__name__", "up"), ("job", "a"), ("job", "")])[1] == SeriesError.OK


def test_too_many_labels() -> None:
    labels = [("__name__", "up")] + [(f"l{k}", "v") for k in range(5)]
    d, code, at = decode_one(labels)
    assert (code, at) == (SeriesError.TOO_MANY_LABELS, -1)
    assert format_series_error(d, 0, LIMITS) == (
        "received a series whose number of labels exceeds the limit (actual: 6, limit: 5) series: "
        "'{__name__=\"up\", l0=\"v\", l1=\"v\", l2=\"v\", l3=\"v\", l4=\"v\"}' (err-mimir-max-label-names-per-series)"
    )
    assert decode_one(labels[:5])[1] == SeriesError.OK  # __name__ counts: 5 is the limit
    assert decode_one(labels + [("empty", "")] * 3)[1] == SeriesError.TOO_MANY_LABELS
    assert decode_one(labels[:5] + [("empty", "")] * 3)[1] == SeriesError.OK


def test_too_many_labels_message_is_truncated_with_ellipsis() -> None:
    labels = [("__name__", "up")] + [(f"label_{k:02d}", "value") for k in range(30)]
    d, code, _ = decode_one(labels)
    assert code == SeriesError.TOO_MANY_LABELS
    full = format_labels(d.series_labels(0))
    assert format_series_error(d, 0, LIMITS) == (
        "received a series whose number of labels exceeds the limit (actual: 31, limit: 5) series: "
        f"'{full[:200]}\u2026' (err-mimir-max-label-names-per-series)"
    )


def test_label_name_too_long() -> None:
    long_name = "n" * 21
    d, code, at = decode_one([("__name__", "up"), (long_name, "v"), ("a", "b")])
    assert (code, at) == (SeriesError.LABEL_NAME_TOO_LONG, 2)
    assert format_series_error(d, 0, LIMITS) == (
        f"received a series whose label name length exceeds the limit, label: '{long_name}' "
        f"series: '{{__name__=\"up\", a=\"b\", {long_name}=\"v\"}}' (err-mimir-label-name-too-long)"
    )
    assert decode_one([("__name__", "up"), ("n" * 20, "v")])[1] == SeriesError.OK


def test_label_value_too_long() -> None:
    limits = SeriesLimits(30, 1024, 300)
    value = "v" * 301
    d, code, at = decode_one([("__name__", "up"), ("job", value)], limits)
    assert (code, at) == (SeriesError.LABEL_VALUE_TOO_LONG, 1)
    series = f'{{__name__="up", job="{value}"}}'
    assert format_series_error(d, 0, limits) == (
        f"received a series whose label value length exceeds the limit, label: 'job', value: '{value[:200]}' "
        f"(truncated) series: '{series[:200]}' (err-mimir-label-value-too-long)"
    )
    assert decode_one([("__name__", "up"), ("job", "v" * 300)], limits)[1] == SeriesError.OK
    # the limit is in bytes, not characters
    assert decode_one([("__name__", "up"), ("job", "é" * 151)], limits)[1] == SeriesError.LABEL_VALUE_TOO_LONG


def test_label_value_invalid_utf8() -> None:
    d, code, at = decode_raw([(b"__name__", b"up"), (b"job", b"a\xffb\xfe\xfdc")])
    assert (code, at) == (SeriesError.LABEL_VALUE_INVALID_UTF8, 1)
    assert format_series_error(d, 0, LIMITS) == (
        "received a series with invalid value in label 'job': 'a\ufffdb\ufffdc' metric: 'up' "
        "(err-mimir-label-value-invalid)"
    )
    assert format_labels(d.series_labels(0)) == '{__name__="up", job="a\\xffb\\xfe\\xfdc"}'


@pytest.mark.parametrize("value", [
    b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
    b"\xf0\x80\x80\x80", b"\x80", b"\xbf", b"\xc2", b"\xe2\x82", b"\xf0\x9f\x98", b"ok\xff", b"12345678\xe2\x82",
])
def test_invalid_utf8_forms(value: bytes) -> None:
    assert decode_raw([(b"__name__", b"up"), (b"v", value)])[1] == SeriesError.LABEL_VALUE_INVALID_UTF8


def test_utf8_validation_matches_python_strict_decoder() -> None:
    rng = random.Random(3)
    alphabet = [b"a", b"\x7f", b"\xc2\x80", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xed\x9f\xbf", b"\xef\xbf\xbf",
                b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf", b"\x80", b"\xc0", b"\xed\xa0", b"\xf8", b"\xe2", b"\xff"]
    for _ in range(1500):
        value = b"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        try:
            value.decode("utf-8")
            expected = SeriesError.OK
        except UnicodeDecodeError:
            expected = SeriesError.LABEL_VALUE_INVALID_UTF8
        assert decode_raw([(b"__name__", b"up"), (b"v", value)], SeriesLimits())[1] == expected, value


def test_native_histograms_unsupported() -> None:
    d, code, at = decode_one([("__name__", "h"), ("job", "x")], histograms=2)
    assert (code, at) == (SeriesError.NATIVE_HISTOGRAMS, -1)
    assert int(d.histogram_count[0]) == 2
    assert format_series_error(d, 0, LIMITS) == (
        "native histograms are not supported yet: series '{__name__=\"h\", job=\"x\"}' "
        "(err-mimir-native-histogram-unsupported)"
    )
    d, code, _ = decode_one([("__name__", "h"), ("a-b", "x")], histograms=1)
    assert code == SeriesError.INVALID_LABEL_NAME and int(d.histogram_count[0]) == 1


@pytest.mark.parametrize(("labels", "expected"), [
    # metric-name checks come first, then the label count, then per label in sorted order
    ([("__name__", "9up")] + [(f"l{k}", "v") for k in range(9)], (SeriesError.INVALID_METRIC_NAME, 0)),
    ([("__name__", "up"), ("a-b", "v")] + [(f"l{k}", "v") for k in range(9)], (SeriesError.TOO_MANY_LABELS, -1)),
    # for one label: name length, invalid name, duplicate, value length, UTF-8
    ([("__name__", "up"), ("-" * 21, "v")], (SeriesError.LABEL_NAME_TOO_LONG, 0)),
    ([("__name__", "up"), ("job", "a"), ("job", "x" * 31)], (SeriesError.DUPLICATE_LABEL_NAME, 2)),
    ([("__name__", "up"), ("a-b", "x" * 31)], (SeriesError.INVALID_LABEL_NAME, 1)),
    # the first offending label in sorted order wins
    ([("__name__", "up"), ("zz", "x" * 31), ("b-c", "v")], (SeriesError.INVALID_LABEL_NAME, 1)),
    ([("__name__", "up"), ("zz", "v"), ("b", "x" * 31), ("z" * 21, "v")], (SeriesError.LABEL_VALUE_TOO_LONG, 1)),
])
def test_first_error_wins(labels, expected) -> None:
    _, code, at = decode_one(labels)
    assert (code, at) == expected


def test_format_labels_go_quoting() -> None:
    pairs = [
        ("__name__", "up"),
        ("a b", "x\"y\\z\n\t\r\a\b\f\v"),
        ("ok", "\x01\x7f\u00a0\u00ad\u200b\ue000é😀\U0010ffff\udcff"),
        ("", "v"),
    ]
    assert format_labels(pairs) == (
        '{__name__="up", "a b"="x\\"y\\\\z\\n\\t\\r\\a\\b\\f\\v", '
        'ok="\\x01\\x7f\\u00a0\\u00ad\\u200b\\ue000é😀\\U0010ffff\\xff", ""="v"}'
    )
    assert format_labels([]) == "{}"
