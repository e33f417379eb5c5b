"""Fuzzing: random bytes, truncations and mutations of valid requests must either raise
DecodeError or decode to internally consistent columns, never crash; when the
protobuf library also accepts the bytes, both must agree."""
from __future__ import annotations

import random

import numpy as np
import pytest
from google.protobuf.message import DecodeError as PbDecodeError

from tsdb.remote_write import DecodeError, SeriesLimits, decode_write_request

from .rwtools import random_write_request
from .test_decode_roundtrip import assert_matches_reference

LIMITS = SeriesLimits(8, 64, 64)


def check(raw: bytes) -> bool:
    """Decode `raw`; returns whether it decoded. Asserts the result is self-consistent."""
    try:
        d = decode_write_request(raw, LIMITS)
    except DecodeError as e:
        assert str(e).startswith("proto: ")
        return False
    n_labels = len(d.label_names)
    for offsets, total in ((d.sample_offsets, d.n_samples), (d.label_offsets, n_labels)):
        assert len(offsets) == d.n_series + 1 and offsets[0] == 0 and offsets[-1] == total
        assert np.all(np.diff(offsets) >= 0)
    assert len(d.values) == len(d.timestamps) == d.sample_series_index().size
    assert len(d.label_values) == n_labels
    d.label_names.validate()
    d.label_values.validate()
    assert np.all(d.error_code <= 9)
    per_series = np.diff(d.label_offsets)
    assert np.all((d.error_label >= -1) & (d.error_label < np.maximum(per_series, 1)))
    assert d.labels_table(np.arange(d.n_series)).num_rows == d.n_series
    return True


def cross_check(raw: bytes) -> None:
    """If both decoders accept `raw`, they agree (the protobuf library is laxer about
    wire types and stricter about UTF-8, so only joint acceptance is compared)."""
    if not check(raw):
        return
    try:
        assert_matches_reference(raw, LIMITS)
    except (PbDecodeError, UnicodeError):
        pass


def valid_requests(n: int) -> list[bytes]:
    rng = random.Random(1234)
    return [random_write_request(rng, max_series=6).SerializeToString() for _ in range(n)]


def test_random_bytes() -> None:
    rng = random.Random(1)
    for _ in range(3000):
        check(rng.randbytes(rng.randint(0, 300)))


def test_random_bytes_with_valid_framing() -> None:
    """Random payloads inside well-formed TimeSeries/Label/Sample envelopes reach the inner parsers."""
    rng = random.Random(2)
    for _ in range(2000):
        body = rng.randbytes(rng.randint(0, 40))
        inner = bytes([rng.choice([0x0A, 0x12, 0x1A, 0x22])]) + bytes([len(body)]) + body
        check(b"\x0a" + bytes([len(inner)]) + inner)


def test_truncations_of_valid_requests() -> None:
    for raw in valid_requests(30):
        step = max(1, len(raw) // 150)
        for cut in range(0, len(raw), step):
            cross_check(raw[:cut])


@pytest.mark.parametrize("seed", range(4))
def test_mutations_of_valid_requests(seed: int) -> None:
    rng = random.Random(seed)
    requests = [r for r in valid_requests(40) if r]
    for _ in range(1000):
        buf = bytearray(rng.choice(requests))
        for _ in range(rng.randint(1, 4)):
            op, pos = rng.random(), rng.randrange(len(buf) or 1)
            if op < 0.5 and buf:
                buf[pos] = rng.randrange(256)
            elif op < 0.7 and buf:
                buf[pos] ^= 1 << rng.randrange(8)
            elif op < 0.85:
                buf[pos:pos] = rng.randbytes(rng.randint(1, 4))
            else:
                del buf[pos : pos + rng.randint(1, 4)]
        cross_check(bytes(buf))
