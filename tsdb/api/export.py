"""`GET /api/v1/export?match[]=…&start=…&end=…&format=parquet|arrow|csv[&compression=…]`: raw
samples of the matching series as a tidy long table (`tsdb.query.tidy`), streamed in batches.
`compression`: Parquet `zstd` (default), `lz4`, `snappy`, `none`; Arrow `lz4` (default),
`zstd`, `none`; CSV none.

The samples come from the same source PromQL reads (head plus bucket, the duplicate rule
applied, the tenant's series limit enforced), so exported numbers equal PromQL's.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from fastapi import Request
from fastapi.responses import Response, StreamingResponse

import promql
from tsdb.api.common import APIError, first, run_for_tenant, time_range
from tsdb.layout.columns import TIMESTAMP, VALUE
from tsdb.query.merge import merge_sets
from tsdb.query.tidy import Tidy


@dataclass(frozen=True)
class ExportFormat:
    media_type: str
    extension: str
    compressions: tuple[str, ...]  # the first is the default
    encode: Callable[[pa.Schema, Iterator[pa.RecordBatch], str | None], Iterator[bytes]]


class _Sink(io.RawIOBase):
    """A write-only stream whose bytes are taken as they come, so a writer's output is
    sent batch by batch instead of being built whole."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.chunks.append(bytes(b))
        return len(b)

    def take(self) -> bytes:
        out, self.chunks = b"".join(self.chunks), []
        return out


def _stream(make_writer, schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    sink = _Sink()
    writer = make_writer(sink, schema)
    for batch in batches:
        writer.write_batch(batch)
        yield sink.take()
    writer.close()
    yield sink.take()


def _parquet_writer(sink, schema: pa.Schema, compression: str | None) -> pq.ParquetWriter:
    """Dictionaries for the label columns only and the layout's encodings for timestamps and
    values: pyarrow's defaults (a dictionary tried on every column, statistics on every
    column) took twice the time to write and to read back."""
    labels = [f.name for f in schema if pa.types.is_dictionary(f.type)]
    return pq.ParquetWriter(sink, schema, compression=compression or "none", use_dictionary=labels,
                            write_statistics=[TIMESTAMP], column_encoding={TIMESTAMP: "DELTA_BINARY_PACKED",
                                                                           VALUE: "BYTE_STREAM_SPLIT"})


def _arrow_writer(sink, schema: pa.Schema, compression: str | None) -> ipc.RecordBatchStreamWriter:
    return ipc.new_stream(sink, schema, options=ipc.IpcWriteOptions(compression=compression))


# Arrow streams are LZ4-compressed by default: labels repeat on every row of a series, and
# LZ4 costs less CPU than sending ten times the bytes does (`bench/export.py`); `none`
# is there for readers without Arrow's codecs.
FORMATS = {
    "parquet": ExportFormat("application/vnd.apache.parquet", "parquet", ("zstd", "lz4", "snappy", "none"),
                            lambda schema, batches, c: _stream(
                                lambda sink, s: _parquet_writer(sink, s, c), schema, batches)),
    "arrow": ExportFormat("application/vnd.apache.arrow.stream", "arrow", ("lz4", "zstd", "none"),
                          lambda schema, batches, c: _stream(
                              lambda sink, s: _arrow_writer(sink, s, c), schema, batches)),
    "csv": ExportFormat("text/csv; charset=utf-8", "csv", ("none",), lambda schema, batches, c: _stream(
        pacsv.CSVWriter, _plain(schema), (b.cast(_plain(schema)) for b in batches))),
}


def _format(p: dict[str, list[str]]) -> tuple[ExportFormat, str | None]:
    """The format and its compression (None: uncompressed), or 400 naming the bad one."""
    name = first(p, "format") or "parquet"
    fmt = FORMATS.get(name)
    if fmt is None:
        raise APIError("bad_data", f'invalid parameter "format": unknown format "{name}": use parquet, arrow or csv')
    compression = first(p, "compression") or fmt.compressions[0]
    if compression not in fmt.compressions:
        raise APIError("bad_data", f'invalid parameter "compression": "{compression}" is not one of '
                                   f'{", ".join(fmt.compressions)} for format {name}')
    return fmt, None if compression == "none" else compression


def _plain(schema: pa.Schema) -> pa.Schema:
    """CSV has no dictionaries: label columns as plain strings."""
    return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type) else f for f in schema])


def make_export_handler(services: Any, source_factory: Callable[..., Any], multitenancy_enabled: bool):
    cfg = services.cfg

    async def export(request: Request) -> Response:
        def work(tenant, p) -> Response:
            fmt, compression = _format(p)
            selectors = p.get("match[]", [])
            if not selectors:
                raise APIError("bad_data", "no match[] parameter provided")
            try:
                matcher_sets = [promql.parse_series_selector(s).matchers for s in selectors]
            except promql.ParseError as e:
                raise APIError("bad_data", str(e)) from None
            start, end = time_range(p)
            source = source_factory(services, tenant, cfg.limits_for(tenant).max_fetched_series_per_query)
            tidy = Tidy.of(merge_sets([source.select(list(m), start, end) for m in matcher_sets]))
            return StreamingResponse(
                fmt.encode(tidy.schema, tidy.batches(), compression), media_type=fmt.media_type,
                headers={"Content-Disposition": f'attachment; filename="export.{fmt.extension}"'})
        return await run_for_tenant(request, multitenancy_enabled, work)

    return export
