"""Shared builders for the remote-write tests: random WriteRequests and a tiny hand encoder
(for bytes the generated protobuf classes refuse to produce, e.g. invalid UTF-8)."""
from __future__ import annotations

import math
import random
import struct

from schemas.prompb import remote_pb2

STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]

_NAMES = ["__name__", "job", "instance", "le", "a", "b", "zz", "Z", "_x", "env", "1bad", "bad-name", "", "ünï"]
_METRICS = ["up", "http_requests_total", "a:b:c", "_x", "9bad", "bad-metric", "ok_total"]


def _value(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.12:
        return ""
    if r < 0.2:
        return "x" * rng.choice([1023, 1024, 1025, 2047, 2048, 2049, 5000])
    if r < 0.3:
        return "".join(rng.choice("aé€𝄞\"\\\n\t ") for _ in range(rng.randint(1, 20)))
    return "".join(rng.choice("abcdefghijklmnop0123456789_") for _ in range(rng.randint(1, 30)))


def _sample_value(rng: random.Random) -> float:
    return rng.choice(
        [STALE_NAN, math.nan, math.inf, -math.inf, 0.0, -0.0, 1.5, -2.25e300, 5e-324, rng.uniform(-1e9, 1e9)]
    )


def random_write_request(rng: random.Random, max_series: int = 40) -> remote_pb2.WriteRequest:
    """A WriteRequest exercising the awkward cases: unsorted, duplicate, empty-valued,
    invalid and over-long labels, special float values, exemplars, histograms, metadata."""
    req = remote_pb2.WriteRequest()
    for _ in range(rng.randint(0, max_series)):
        ts = req.timeseries.add()
        labels = []
        if rng.random() < 0.9:
            labels.append(("__name__", rng.choice(_METRICS) if rng.random() < 0.9 else ""))
        for _ in range(rng.choice([0, 1, 3, 8, rng.randint(0, 40)])):
            name = rng.choice(_NAMES) if rng.random() < 0.85 else "n" * rng.choice([1024, 1025, 3000])
            labels.append((name, _value(rng)))
        if rng.random() < 0.5:
            rng.shuffle(labels)
        for name, value in labels:
            ts.labels.add(name=name, value=value)
        for _ in range(rng.choice([0, 1, 1, 2, rng.randint(0, 50)])):
            ts.samples.add(value=_sample_value(rng), timestamp=rng.randint(-(2**63), 2**63 - 1)
                           if rng.random() < 0.2 else rng.randint(-10**6, 2 * 10**12))
        for _ in range(rng.choice([0, 0, 0, 1, 3])):
            ex = ts.exemplars.add(value=rng.random(), timestamp=rng.randint(0, 10**12))
            ex.labels.add(name="trace_id", value=f"{rng.getrandbits(64):x}")
        for _ in range(rng.choice([0] * 8 + [1, 2])):
            h = ts.histograms.add(count_int=rng.randint(0, 100), sum=rng.random(), schema=rng.randint(-4, 8),
                                  timestamp=rng.randint(0, 10**12))
            h.positive_spans.add(offset=rng.randint(-5, 5), length=2)
            h.positive_deltas.extend([1, -1])
    for _ in range(rng.choice([0, 0, 1, 3])):
        req.metadata.add(type=rng.randint(0, 7), metric_family_name=rng.choice(_METRICS),
                         help=_value(rng), unit=rng.choice(["", "seconds", "bytes"]))
    return req


# --- minimal protobuf wire encoder -------------------------------------------------

def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(field: int, wire_type: int) -> bytes:
    return varint(field << 3 | wire_type)


def ld(field: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return tag(field, 2) + varint(len(payload)) + payload


def enc_label(name: bytes, value: bytes) -> bytes:
    return ld(1, name) + ld(2, value)


def enc_sample(value: float, ts: int) -> bytes:
    return tag(1, 1) + struct.pack("<d", value) + tag(2, 0) + varint(ts)


def enc_series(labels: list[tuple[bytes, bytes]], samples: list[tuple[float, int]] = (), extra: bytes = b"") -> bytes:
    body = b"".join(ld(1, enc_label(n, v)) for n, v in labels)
    body += b"".join(ld(2, enc_sample(v, t)) for v, t in samples)
    return ld(1, body + extra)

