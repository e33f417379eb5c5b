"""Prometheus remote-write ingestion: request decoding to columns and Mimir-style validation errors."""
from tsdb.remote_write.decode import (
    DecodedWrite,
    DecodeError,
    MetricMetadata,
    SeriesError,
    SeriesLimits,
    decode_write_request,
)
from tsdb.remote_write.errors import format_labels, format_series_error

__all__ = [
    "DecodeError",
    "DecodedWrite",
    "MetricMetadata",
    "SeriesError",
    "SeriesLimits",
    "decode_write_request",
    "format_labels",
    "format_series_error",
]
