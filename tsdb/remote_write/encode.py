"""Build snappy-compressed remote-write 1.0 requests (for clients, tests and benchmarks)."""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import cramjam

from schemas.prompb import remote_pb2, types_pb2

Series = tuple[Mapping[str, str], Sequence[tuple[int, float]]]


def write_request(series: Iterable[Series], metadata: Iterable[tuple[str, str, str, str]] = ()) -> "remote_pb2.WriteRequest":
    """A WriteRequest of (labels, [(timestamp_ms, value), ...]) pairs; labels are sent
    in the given order. `metadata` holds (type, metric_family_name, help, unit)."""
    req = remote_pb2.WriteRequest()
    for labels, samples in series:
        ts = req.timeseries.add()
        for name, value in labels.items():
            ts.labels.add(name=name, value=value)
        for t, v in samples:
            ts.samples.add(timestamp=t, value=v)
    for mtype, family, help_text, unit in metadata:
        req.metadata.add(type=types_pb2.MetricMetadata.MetricType.Value(mtype.upper()),
                         metric_family_name=family, help=help_text, unit=unit)
    return req


def encode(req: "remote_pb2.WriteRequest") -> bytes:
    """Serialise and snappy-compress (raw block format, as remote write uses)."""
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def encode_series(series: Iterable[Series], metadata: Iterable[tuple[str, str, str, str]] = ()) -> bytes:
    return encode(write_request(series, metadata))
