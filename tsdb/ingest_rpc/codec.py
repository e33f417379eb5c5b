"""Encoding of pushes and their answers for the wire.

Series and samples travel as two Arrow IPC streams inside the protobuf message: the
distributor holds them as columns already, and IPC round-trips them without a Python
object per sample. Values keep their bits (stale markers included).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from schemas.ingest import ingest_pb2
from tsdb.head import SERIES_SCHEMA, from_ipc, to_ipc
from tsdb.ingester import AppendResult, Rejection, SeriesBatch
from tsdb.remote_write.decode import MetricMetadata

SAMPLES_WIRE_SCHEMA = pa.schema([("series_index", pa.int32()), ("timestamp", pa.int64()), ("value", pa.float64())])


def encode_push(batch: SeriesBatch, metadata: list | None = None) -> ingest_pb2.PushRequest:
    series = pa.RecordBatch.from_arrays([pa.array(batch.series_id, pa.uint64()), batch.labels], schema=SERIES_SCHEMA)
    samples = pa.RecordBatch.from_arrays(
        [pa.array(batch.sample_series.astype(np.int32)), pa.array(batch.timestamps, pa.int64()),
         pa.array(batch.values, pa.float64())], schema=SAMPLES_WIRE_SCHEMA)
    request = ingest_pb2.PushRequest(series=to_ipc(series), samples=to_ipc(samples))
    for m in metadata or ():
        request.metadata.add(metric_family_name=m.metric_family_name, type=m.type, help=m.help, unit=m.unit)
    return request


def decode_push(request: ingest_pb2.PushRequest) -> SeriesBatch:
    """The batch of a push; raises ValueError on a malformed one (the caller answers
    INVALID_ARGUMENT)."""
    try:
        series = from_ipc(request.series).combine_chunks()
        samples = from_ipc(request.samples).combine_chunks()
    except pa.ArrowException as e:
        raise ValueError(f"malformed push: {e}") from e
    if series.schema != SERIES_SCHEMA or samples.schema != SAMPLES_WIRE_SCHEMA:
        raise ValueError("malformed push: unexpected schema")
    sample_series = samples.column("series_index").to_numpy().astype(np.int64)
    if len(sample_series) and (sample_series.min() < 0 or sample_series.max() >= series.num_rows):
        raise ValueError("malformed push: a sample refers to no series")
    labels = series.column("labels")
    labels = labels.chunk(0) if labels.num_chunks else pa.array([], SERIES_SCHEMA.field("labels").type)
    return SeriesBatch(
        series_id=series.column("series_id").to_numpy(),
        labels=labels,
        sample_series=sample_series,
        timestamps=samples.column("timestamp").to_numpy(),
        values=samples.column("value").to_numpy(),
    )


def decode_metadata(request: ingest_pb2.PushRequest) -> list[MetricMetadata]:
    return [MetricMetadata(m.type, m.metric_family_name, m.help, m.unit) for m in request.metadata]


def encode_result(result: AppendResult) -> ingest_pb2.PushResponse:
    response = ingest_pb2.PushResponse(accepted=result.accepted, ignored=result.ignored)
    for code, n in result.rejected_by_code.items():
        response.rejected_by_code[code] = n
    if result.first_rejection is not None:
        r = result.first_rejection
        response.has_rejection = True
        response.rejection_code, response.rejection_series_index, response.rejection_timestamp = (
            r.code, r.series_index, r.timestamp)
    return response


def decode_result(response: ingest_pb2.PushResponse) -> AppendResult:
    first = None
    if response.has_rejection:
        first = Rejection(response.rejection_code, response.rejection_series_index, response.rejection_timestamp)
    return AppendResult(response.accepted, response.ignored, dict(response.rejected_by_code), first)
