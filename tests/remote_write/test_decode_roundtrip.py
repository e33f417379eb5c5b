"""Round trip: requests built with the generated protobuf classes, decoded by the C
decoder, compared with a pure-Python reference decode of the same bytes."""
from __future__ import annotations

import random
import re
import struct
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pytest
import xxhash

from schemas.prompb import remote_pb2
from tsdb.remote_write import SeriesLimits, decode_write_request
from tsdb.remote_write.decode import LABELS_TABLE_SCHEMA, METRIC_TYPES

from .rwtools import STALE_NAN, random_write_request

_METRIC_RE = re.compile(rb"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_RE = re.compile(rb"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass
class RefSeries:
    labels: list[tuple[bytes, bytes]]
    timestamps: list[int]
    value_bits: list[int]
    histograms: int
    series_id: int
    error: int
    error_label: int


def _validate(labels: list[tuple[bytes, bytes]], n_hist: int, limits: SeriesLimits) -> tuple[int, int]:
    """The documented check order: 1, 2, 5, per label (6, 3, 4, 7, 8), 9."""
    names = [n for n, _ in labels]
    if b"__name__" not in names:
        return 1, -1
    at = names.index(b"__name__")
    if not _METRIC_RE.fullmatch(labels[at][1]):
        return 2, at
    if len(labels) > limits.max_label_names_per_series:
        return 5, -1
    for i, (name, value) in enumerate(labels):
        if len(name) > limits.max_label_name_length:
            return 6, i
        if not _LABEL_RE.fullmatch(name):
            return 3, i
        if i and labels[i - 1][0] == name:
            return 4, i
        if len(value) > limits.max_label_value_length:
            return 7, i
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return 8, i
    return (9, -1) if n_hist else (0, -1)


def reference_decode(raw: bytes, limits: SeriesLimits) -> tuple[list[RefSeries], list[tuple], int]:
    """What the decoder must produce, computed from the pb2 objects."""
    req = remote_pb2.WriteRequest.FromString(raw)
    out = []
    for ts in req.timeseries:
        labels = [(lb.name.encode(), lb.value.encode()) for lb in ts.labels if lb.value]
        labels.sort(key=lambda nv: nv[0])  # stable, like the decoder
        sid = xxhash.xxh64_intdigest(b"".join(n + b"\xff" + v + b"\xff" for n, v in labels))
        code, at = _validate(labels, len(ts.histograms), limits)
        out.append(RefSeries(
            labels=labels,
            timestamps=[s.timestamp for s in ts.samples],
            value_bits=[struct.unpack("<Q", struct.pack("<d", s.value))[0] for s in ts.samples],
            histograms=len(ts.histograms),
            series_id=sid,
            error=code,
            error_label=at,
        ))
    meta = [
        (METRIC_TYPES[m.type] if 0 <= m.type < len(METRIC_TYPES) else "unknown", m.metric_family_name, m.help, m.unit)
        for m in req.metadata
    ]
    n_exemplars = sum(len(ts.exemplars) for ts in req.timeseries)
    return out, meta, n_exemplars


def assert_matches_reference(raw: bytes, limits: SeriesLimits) -> None:
    d = decode_write_request(raw, limits)
    ref, meta, n_exemplars = reference_decode(raw, limits)
    assert d.n_series == len(ref)
    assert d.sample_offsets.tolist() == np.cumsum([0] + [len(s.timestamps) for s in ref]).tolist()
    assert d.label_offsets.tolist() == np.cumsum([0] + [len(s.labels) for s in ref]).tolist()
    assert d.timestamps.tolist() == [t for s in ref for t in s.timestamps]
    assert d.values.view(np.uint64).tolist() == [b for s in ref for b in s.value_bits]
    assert d.series_id.tolist() == [s.series_id for s in ref]
    assert d.error_code.tolist() == [s.error for s in ref]
    assert d.error_label.tolist() == [s.error_label for s in ref]
    assert d.histogram_count.tolist() == [s.histograms for s in ref]
    assert d.label_names.to_pylist() == [n.decode() for s in ref for n, _ in s.labels]
    assert d.label_values.to_pylist() == [v.decode() for s in ref for _, v in s.labels]
    d.label_names.validate(full=True)
    d.label_values.validate(full=True)
    for i, s in enumerate(ref):
        assert d.series_labels(i) == [(n.decode(), v.decode()) for n, v in s.labels]
    assert [(m.type, m.metric_family_name, m.help, m.unit) for m in d.metadata] == meta
    assert d.n_exemplars == n_exemplars
    assert d.n_samples == len(d.values) == len(d.timestamps)


@pytest.mark.parametrize("seed", range(150))
def test_random_requests_match_reference(seed: int) -> None:
    rng = random.Random(seed)
    raw = random_write_request(rng).SerializeToString()
    limits = rng.choice([SeriesLimits(), SeriesLimits(8, 20, 30), SeriesLimits(1000, 5000, 10000)])
    assert_matches_reference(raw, limits)


def test_special_values_are_bit_exact() -> None:
    req = remote_pb2.WriteRequest()
    ts = req.timeseries.add()
    ts.labels.add(name="__name__", value="m")
    specials = [STALE_NAN, float("nan"), float("inf"), float("-inf"), -0.0, 5e-324, 1.7976931348623157e308]
    stamps = [-(2**63), -1, 0, 1, 2**63 - 1, -1234567890123, 1700000000000]
    for v, t in zip(specials, stamps):
        ts.samples.add(value=v, timestamp=t)
    d = decode_write_request(req.SerializeToString(), SeriesLimits())
    assert d.values.view(np.uint64)[0] == 0x7FF0000000000002
    assert d.values.view(np.uint64).tolist() == np.array(specials).view(np.uint64).tolist()
    assert d.timestamps.tolist() == stamps
    assert_matches_reference(req.SerializeToString(), SeriesLimits())


@pytest.mark.parametrize("length", [*range(0, 80), 1023, 1024, 1025, 4096, 10_000])
def test_series_id_is_prometheus_labels_hash(length: int) -> None:
    """Covers every XXH64 tail length and multi-stripe inputs (labels over 1 KiB)."""
    value = "".join(chr(0x61 + (i * 7) % 26) for i in range(length)) or "v"
    req = remote_pb2.WriteRequest()
    ts = req.timeseries.add()
    ts.labels.add(name="zeta", value=value)
    ts.labels.add(name="__name__", value="up")
    ts.labels.add(name="long_" + "n" * (length % 50), value="x" * length or "y")
    d = decode_write_request(req.SerializeToString(), SeriesLimits(30, 100_000, 100_000))
    pairs = sorted((lb.name.encode(), lb.value.encode()) for lb in ts.labels)
    expected = xxhash.xxh64_intdigest(b"".join(n + b"\xff" + v + b"\xff" for n, v in pairs))
    assert int(d.series_id[0]) == expected


def test_empty_request_and_empty_series() -> None:
    d = decode_write_request(b"", SeriesLimits())
    assert (d.n_series, d.n_samples, len(d.label_names)) == (0, 0, 0)
    assert d.sample_offsets.tolist() == [0] and d.label_offsets.tolist() == [0]
    assert d.labels_table(np.array([], dtype=np.int64)).num_rows == 0
    req = remote_pb2.WriteRequest()
    req.timeseries.add()
    d = decode_write_request(req.SerializeToString(), SeriesLimits())
    assert d.n_series == 1 and d.error_code.tolist() == [1]
    assert int(d.series_id[0]) == xxhash.xxh64_intdigest(b"")


def test_accepts_any_bytes_like() -> None:
    raw = random_write_request(random.Random(7)).SerializeToString()
    base = decode_write_request(raw, SeriesLimits())
    for buf in (bytearray(raw), memoryview(raw), np.frombuffer(raw, dtype=np.uint8)):
        d = decode_write_request(buf, SeriesLimits())
        assert d.series_id.tolist() == base.series_id.tolist()
        assert d.values.view(np.uint64).tolist() == base.values.view(np.uint64).tolist()


def _request(series: list[tuple[list[tuple[str, str]], int]]) -> bytes:
    req = remote_pb2.WriteRequest()
    for labels, n_samples in series:
        ts = req.timeseries.add()
        for n, v in labels:
            ts.labels.add(name=n, value=v)
        for k in range(n_samples):
            ts.samples.add(value=float(k), timestamp=k)
    return req.SerializeToString()


def test_sample_series_index_and_labels_table() -> None:
    raw = _request([
        ([("__name__", "a"), ("job", "x")], 2),
        ([], 0),
        ([("__name__", "b")], 3),
        ([("z", "1"), ("__name__", "c"), ("e", "")], 1),
    ])
    d = decode_write_request(raw, SeriesLimits())
    idx = d.sample_series_index()
    assert idx.dtype == np.int32 and idx.tolist() == [0, 0, 2, 2, 2, 3]
    expected = [d.series_labels(i) for i in range(4)]
    for sel in ([0, 1, 2, 3], [1, 2], [3, 0, 2], [2], [3, 3], [], [1]):
        t = d.labels_table(np.array(sel, dtype=np.int64))
        assert t.schema == LABELS_TABLE_SCHEMA
        assert t.column("series_id").to_pylist() == d.series_id[sel].tolist()
        rows = t.column("labels").to_pylist()
        assert [[(p["name"], p["value"]) for p in row] for row in rows] == [expected[i] for i in sel]
        t.validate(full=True)


def test_outputs_are_zero_copy_views() -> None:
    d = decode_write_request(_request([([("__name__", "a")], 3)]), SeriesLimits())
    assert not d.values.flags.owndata and not d.values.flags.writeable
    assert isinstance(d.label_names, pa.StringArray) and d.label_names.offset == 0


def test_many_labels_sort_stably_and_fast() -> None:
    """Above the insertion-sort cutoff a merge sort keeps hostile label counts linearithmic."""
    rng = random.Random(5)
    names = [f"l{rng.randrange(3000):04d}" for _ in range(20_000)] + ["__name__"]
    req = remote_pb2.WriteRequest()
    ts = req.timeseries.add()
    for k, name in enumerate(names):
        ts.labels.add(name=name, value=f"v{k}")
    raw = req.SerializeToString()
    limits = SeriesLimits(100_000, 1024, 2048)
    d = decode_write_request(raw, limits)
    assert d.series_labels(0) == sorted(((n, f"v{k}") for k, n in enumerate(names)), key=lambda p: p[0])
    assert_matches_reference(raw, limits)
