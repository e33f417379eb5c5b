"""Wire-format robustness: unknown fields, field order, defaults, malformed input."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from tsdb.remote_write import DecodeError, SeriesLimits, decode_write_request

from .rwtools import enc_label, enc_sample, enc_series, ld, tag, varint

LIMITS = SeriesLimits()


def unknowns(*fields: int) -> bytes:
    """One unknown field of every wire type: varint, 64-bit, length-delimited, 32-bit."""
    f0, f1, f2, f3 = fields
    return (tag(f0, 0) + varint(2**64 - 1) + tag(f1, 1) + b"\x01" * 8 + ld(f2, b"\x0b\x0c junk")
            + tag(f3, 5) + b"\xff" * 4)


def metadata(type_: int, name: bytes, help_: bytes, unit: bytes, extra: bytes = b"") -> bytes:
    return ld(3, tag(1, 0) + varint(type_) + ld(2, name) + ld(4, help_) + ld(5, unit) + extra)


def summary(raw: bytes) -> tuple:
    d = decode_write_request(raw, LIMITS)
    return (
        d.series_id.tolist(), d.sample_offsets.tolist(), d.label_offsets.tolist(), d.timestamps.tolist(),
        d.values.view(np.uint64).tolist(), d.label_names.to_pylist(), d.label_values.to_pylist(),
        d.error_code.tolist(), d.histogram_count.tolist(), d.metadata, d.n_exemplars,
    )


CLEAN = (
    enc_series([(b"__name__", b"up"), (b"job", b"api")], [(1.5, 10), (2.5, 20)])
    + metadata(1, b"up", b"help text", b"seconds")
    + enc_series([(b"__name__", b"x")], [(float("nan"), -3)])
)


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    label = lambda n, v: ld(1, ld(1, n) + unknowns(3, 4, 5, 6) + ld(2, v) + unknowns(7, 8, 9, 536870911))  # noqa: E731
    sample = lambda v, t: ld(2, unknowns(3, 4, 5, 6) + enc_sample(v, t) + unknowns(3, 4, 5, 6))  # noqa: E731
    noisy = (
        unknowns(2, 4, 5, 1000)
        + ld(1, unknowns(5, 6, 7, 8) + label(b"__name__", b"up") + sample(1.5, 10) + label(b"job", b"api")
             + unknowns(9, 10, 11, 12) + sample(2.5, 20))
        + metadata(1, b"up", b"help text", b"seconds", extra=unknowns(3, 6, 7, 8))
        + unknowns(2, 4, 5, 1000)
        + ld(1, label(b"__name__", b"x") + sample(float("nan"), -3))
    )
    assert summary(noisy) == summary(CLEAN)


def test_fields_in_any_order() -> None:
    reordered = (
        ld(3, ld(5, b"seconds") + ld(4, b"help text") + ld(2, b"up") + tag(1, 0) + varint(1))
        + ld(1, ld(2, tag(2, 0) + varint(10) + tag(1, 1) + struct.pack("<d", 1.5))
             + ld(1, ld(2, b"api") + ld(1, b"job"))
             + ld(2, enc_sample(2.5, 20))
             + ld(1, enc_label(b"__name__", b"up")))
        + enc_series([(b"__name__", b"x")], [(float("nan"), -3)])
    )
    assert summary(reordered) == summary(CLEAN)


def test_missing_fields_take_defaults_and_last_scalar_wins() -> None:
    raw = ld(1, ld(1, enc_label(b"__name__", b"up")) + ld(2, b"") + ld(2, enc_sample(1.0, 5) + enc_sample(7.0, 9))
             + ld(1, ld(1, b"first") + ld(1, b"job") + ld(2, b"a")) + ld(1, ld(2, b"v"))) + ld(3, b"")
    d = decode_write_request(raw, LIMITS)
    assert d.timestamps.tolist() == [0, 9] and d.values.tolist() == [0.0, 7.0]
    assert d.series_labels(0) == [("", "v"), ("__name__", "up"), ("job", "a")]
    assert int(d.error_code[0]) == 3  # empty label name
    assert [(m.type, m.metric_family_name, m.help, m.unit) for m in d.metadata] == [("unknown", "", "", "")]


def test_exemplars_and_histograms_are_counted_not_decoded() -> None:
    raw = enc_series([(b"__name__", b"up")], [(1.0, 1)], extra=ld(3, b"") + ld(3, ld(1, enc_label(b"t", b"1")))
                     + ld(4, tag(1, 0) + varint(3)))
    d = decode_write_request(raw, LIMITS)
    assert d.n_exemplars == 2 and d.histogram_count.tolist() == [1] and d.n_samples == 1


def test_metadata_types_and_strings() -> None:
    raw = b"".join(metadata(t, f"m{t}".encode(), "hé".encode(), b"u") for t in range(9))
    raw += metadata(2**64 - 1, b"neg", b"bad \xff utf8", b"")
    d = decode_write_request(raw, LIMITS)
    types = ["unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown"]
    assert [m.type for m in d.metadata] == types + ["unknown"]
    assert d.metadata[0].help == "hé" and d.metadata[-1].help == "bad \ufffd utf8"


@pytest.mark.parametrize(("raw", "message"), [
    (b"\x80", "proto: WriteRequest: truncated varint"),
    (b"\x0a", "proto: WriteRequest: truncated varint"),
    (b"\x0a\x05ab", "proto: WriteRequest: truncated length-delimited field"),
    (b"\x0a" + b"\xff" * 9 + b"\x01", "proto: WriteRequest: truncated length-delimited field"),
    (b"\x28" + b"\xff" * 10 + b"\x01", "proto: WriteRequest: varint overflows 64 bits"),
    (b"\x00", "proto: WriteRequest: illegal tag 0"),
    (b"\x80\x80\x80\x80\x80\x01", "proto: WriteRequest: illegal tag"),
    (b"\x0b", "proto: WriteRequest: group wire type 3 is not supported"),
    (b"\x2c", "proto: WriteRequest: group wire type 4 is not supported"),
    (b"\x2e", "proto: WriteRequest: illegal wire type 6"),
    (b"\x2f", "proto: WriteRequest: illegal wire type 7"),
    (b"\x29abc", "proto: WriteRequest: truncated 64-bit field"),
    (b"\x2dab", "proto: WriteRequest: truncated 32-bit field"),
    (b"\x08\x01", "proto: WriteRequest: wrong wire type 0 for field timeseries"),
    (b"\x1d\x00\x00\x00\x00", "proto: WriteRequest: wrong wire type 5 for field metadata"),
    (ld(1, b"\x0a\x05ab"), "proto: TimeSeries: truncated length-delimited field"),
    (ld(1, b"\x11" + b"\x00" * 8), "proto: TimeSeries: wrong wire type 1 for field samples"),
    (ld(1, ld(1, b"\x12\x05ab")), "proto: Label: truncated length-delimited field"),
    (ld(1, ld(1, b"\x08\x01")), "proto: Label: wrong wire type 0 for field name"),
    (ld(1, ld(1, b"\x13")), "proto: Label: group wire type 3 is not supported"),
    (ld(1, ld(2, b"\x09abc")), "proto: Sample: truncated 64-bit field"),
    (ld(1, ld(2, b"\x08\x01")), "proto: Sample: wrong wire type 0 for field value"),
    (ld(1, ld(2, b"\x11" + b"\x00" * 8)), "proto: Sample: wrong wire type 1 for field timestamp"),
    (ld(1, ld(2, b"\x10\x80")), "proto: Sample: truncated varint"),
    (ld(1, ld(3, b"\x0a\x09")), "proto: Exemplar: truncated length-delimited field"),
    (ld(1, ld(4, b"\x0f")), "proto: Histogram: illegal wire type 7"),
    (ld(3, b"\x12\x03a"), "proto: MetricMetadata: truncated length-delimited field"),
    (ld(3, b"\x0a\x00"), "proto: MetricMetadata: wrong wire type 2 for field type"),
])
def test_malformed_input_raises(raw: bytes, message: str) -> None:
    with pytest.raises(DecodeError) as exc:
        decode_write_request(raw, LIMITS)
    assert str(exc.value).startswith(message)
    assert isinstance(exc.value, ValueError)


def test_non_bytes_input_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        decode_write_request("not bytes", LIMITS)  # type: ignore[arg-type]
