"""Remote-write 1.0 request decoding into column arrays.

Why: building a Python object per sample caps ingest at ~170k samples/s. The C
decoder (`tsdb._native._rwdecode`) walks the protobuf and writes little-endian
arrays into `bytes` objects; here they are wrapped zero-copy as numpy arrays and
Arrow string arrays, so the ingest path stays vectorised.

Per series the decoder has already dropped empty-valued labels, sorted labels by
name, computed Prometheus' `labels.Hash()` (`series_id`) and validated the series
(`error_code`, see `SeriesError`; messages in `tsdb.remote_write.errors`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import pyarrow as pa

from tsdb._native import _rwdecode

# Prometheus' names for MetricMetadata.MetricType, indexed by enum value.
METRIC_TYPES = ("unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset")

LABEL_TYPE = pa.struct([pa.field("name", pa.string(), nullable=False), pa.field("value", pa.string(), nullable=False)])
# `labels_table` output: one row per selected series, labels sorted by name.
LABELS_TABLE_SCHEMA = pa.schema([("series_id", pa.uint64()), ("labels", pa.list_(LABEL_TYPE))])


class DecodeError(ValueError):
    """The body is not a valid protobuf WriteRequest (the whole request is rejected)."""


class SeriesError(IntEnum):
    """Per-series validation result (`DecodedWrite.error_code`); first error wins, in
    this order: 1, 2, 5, then per label in sorted order 6, 3, 4, 7, 8, finally 9."""

    OK = 0
    MISSING_METRIC_NAME = 1
    INVALID_METRIC_NAME = 2
    INVALID_LABEL_NAME = 3
    DUPLICATE_LABEL_NAME = 4
    TOO_MANY_LABELS = 5
    LABEL_NAME_TOO_LONG = 6
    LABEL_VALUE_TOO_LONG = 7
    LABEL_VALUE_INVALID_UTF8 = 8
    NATIVE_HISTOGRAMS = 9


@dataclass(frozen=True)
class SeriesLimits:
    """The per-tenant series limits that decoding validates (Mimir's defaults)."""

    max_label_names_per_series: int = 30
    max_label_name_length: int = 1024
    max_label_value_length: int = 2048


@dataclass(frozen=True)
class MetricMetadata:
    """One metadata entry of the request; `type` as Prometheus spells it ('counter', ...)."""

    type: str
    metric_family_name: str
    help: str
    unit: str


@dataclass(frozen=True, eq=False)
class DecodedWrite:
    """Column view of one WriteRequest.

    Series `i` owns samples `sample_offsets[i]:sample_offsets[i+1]` of `timestamps`/
    `values` and labels `label_offsets[i]:label_offsets[i+1]` of `label_names`/
    `label_values` (sorted by name, empty values dropped). `error_label[i]` is the
    index, within the series' labels, of the label that caused `error_code[i]`, or -1.
    Label strings of a series with error 8 hold invalid UTF-8: select valid series
    before converting them to Python.
    """

    series_id: np.ndarray  # uint64[n_series], Prometheus labels.Hash()
    sample_offsets: np.ndarray  # int64[n_series + 1]
    label_offsets: np.ndarray  # int64[n_series + 1]
    error_code: np.ndarray  # uint8[n_series], SeriesError
    error_label: np.ndarray  # int32[n_series]
    histogram_count: np.ndarray  # int32[n_series], native histograms (not ingested)
    timestamps: np.ndarray  # int64[n_samples], ms since epoch
    values: np.ndarray  # float64[n_samples], bit-exact (stale-marker NaN kept)
    label_names: pa.StringArray
    label_values: pa.StringArray
    metadata: list[MetricMetadata]
    n_exemplars: int
    _name_offsets: np.ndarray = field(repr=False)
    _name_data: bytes = field(repr=False)
    _value_offsets: np.ndarray = field(repr=False)
    _value_data: bytes = field(repr=False)

    @property
    def n_series(self) -> int:
        return len(self.series_id)

    @property
    def n_samples(self) -> int:
        return len(self.timestamps)

    def series_labels(self, i: int) -> list[tuple[str, str]]:
        """Labels of series `i` as (name, value) pairs, sorted by name.

        Invalid UTF-8 bytes come back as surrogate escapes, so error messages can
        show them the way Go does (`\\xff`)."""
        lo, hi = int(self.label_offsets[i]), int(self.label_offsets[i + 1])
        no = self._name_offsets[lo : hi + 1].tolist()
        vo = self._value_offsets[lo : hi + 1].tolist()
        nd, vd = self._name_data, self._value_data
        return [
            (
                nd[no[k] : no[k + 1]].decode("utf-8", "surrogateescape"),
                vd[vo[k] : vo[k + 1]].decode("utf-8", "surrogateescape"),
            )
            for k in range(hi - lo)
        ]

    def sample_series_index(self) -> np.ndarray:
        """int32[n_samples]: the series index of every sample."""
        counts = np.diff(self.sample_offsets)
        return np.repeat(np.arange(self.n_series, dtype=np.int32), counts)

    def labels_table(self, series_indices: np.ndarray) -> pa.Table:
        """`series_id` (uint64) and `labels` (list<struct<name, value>>, sorted by name)
        of the selected series, in the given order; built from the offsets without a
        per-label Python loop (zero-copy slices when the selection is a contiguous run)."""
        idx = np.asarray(series_indices, dtype=np.int64).reshape(-1)
        starts = self.label_offsets[idx]
        counts = self.label_offsets[idx + 1] - starts
        list_offsets = np.zeros(len(idx) + 1, dtype=np.int32)
        np.cumsum(counts, out=list_offsets[1:])
        total = int(list_offsets[-1])
        if len(idx) and idx[-1] - idx[0] == len(idx) - 1 and bool(np.all(np.diff(idx) == 1)):
            first = int(starts[0])
            names = self.label_names.slice(first, total)
            values = self.label_values.slice(first, total)
        else:
            take = pa.array(np.repeat(starts - list_offsets[:-1], counts) + np.arange(total, dtype=np.int64))
            names = self.label_names.take(take)
            values = self.label_values.take(take)
        pairs = pa.StructArray.from_arrays([names, values], fields=list(LABEL_TYPE))
        labels = pa.ListArray.from_arrays(pa.array(list_offsets), pairs, type=LABELS_TABLE_SCHEMA.field("labels").type)
        return pa.Table.from_arrays([pa.array(self.series_id[idx], type=pa.uint64()), labels], schema=LABELS_TABLE_SCHEMA)


def _strings(n: int, offsets: bytes, data: bytes) -> pa.StringArray:
    """Arrow string array over the decoder's buffers, without copying."""
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data), null_count=0)


def decode_write_request(raw: bytes, limits: SeriesLimits) -> DecodedWrite:
    """Decode a snappy-decompressed WriteRequest; raises DecodeError if it is malformed."""
    try:
        (
            _n_series, _n_samples, n_labels, n_exemplars,
            sample_offsets, label_offsets, series_id, error_code, error_label, histogram_count,
            timestamps, values, name_offsets, name_data, value_offsets, value_data, metadata,
        ) = _rwdecode.decode(
            raw, limits.max_label_names_per_series, limits.max_label_name_length, limits.max_label_value_length
        )
    except ValueError as e:
        raise DecodeError(str(e)) from None
    return DecodedWrite(
        series_id=np.frombuffer(series_id, dtype="<u8"),
        sample_offsets=np.frombuffer(sample_offsets, dtype="<i8"),
        label_offsets=np.frombuffer(label_offsets, dtype="<i8"),
        error_code=np.frombuffer(error_code, dtype=np.uint8),
        error_label=np.frombuffer(error_label, dtype="<i4"),
        histogram_count=np.frombuffer(histogram_count, dtype="<i4"),
        timestamps=np.frombuffer(timestamps, dtype="<i8"),
        values=np.frombuffer(values, dtype="<f8"),
        label_names=_strings(n_labels, name_offsets, name_data),
        label_values=_strings(n_labels, value_offsets, value_data),
        metadata=[
            MetricMetadata(METRIC_TYPES[t] if 0 <= t < len(METRIC_TYPES) else "unknown", name, help_, unit)
            for t, name, help_, unit in metadata
        ],
        n_exemplars=n_exemplars,
        _name_offsets=np.frombuffer(name_offsets, dtype="<i4"),
        _name_data=name_data,
        _value_offsets=np.frombuffer(value_offsets, dtype="<i4"),
        _value_data=value_data,
    )
