"""`GET /api/v1/export?match[]=…&start=…&end=…&format=parquet|arrow|csv`: raw samples of
the matching series as a tidy long table (`tsdb.query.tidy`), streamed in batches.

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
from tsdb.query.merge import merge_sets
from tsdb.query.tidy import label_names_of, tidy_batches, tidy_schema


@dataclass(frozen=True)
class ExportFormat:
    media_type: str
    extension: str
    encode: Callable[[pa.Schema, Iterator[pa.RecordBatch]], Iterator[bytes]]


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


FORMATS = {
    "parquet": ExportFormat("application/vnd.apache.parquet", "parquet", lambda schema, batches: _stream(
        lambda sink, s: pq.ParquetWriter(sink, s, compression="zstd"), schema, batches)),
    "arrow": ExportFormat("application/vnd.apache.arrow.stream", "arrow", lambda schema, batches: _stream(
        ipc.new_stream, schema, batches)),
    "csv": ExportFormat("text/csv; charset=utf-8", "csv", lambda schema, batches: _stream(
        pacsv.CSVWriter, _plain(schema), (b.cast(_plain(schema)) for b in batches))),
}


def _plain(schema: pa.Schema) -> pa.Schema:
    """CSV has no dictionaries: label columns as plain strings."""
    return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type) else f for f in schema])


def make_export_handler(services: Any, source_factory: Callable[..., Any], multitenancy_enabled: bool):
    cfg = services.cfg

    async def export(request: Request) -> Response:
        def work(tenant, p) -> Response:
            fmt = FORMATS.get(first(p, "format") or "parquet")
            if fmt is None:
                raise APIError("bad_data", f'invalid parameter "format": unknown format "{first(p, "format")}": '
                                           "use parquet, arrow or csv")
            selectors = p.get("match[]", [])
            if not selectors:
                raise APIError("bad_data", "no match[] parameter provided")
            try:
                matcher_sets = [promql.parse_series_selector(s).matchers for s in selectors]
            except promql.ParseError as e:
                raise APIError("bad_data", str(e)) from None
            start, end = time_range(p)
            source = source_factory(services, tenant, cfg.limits_for(tenant).max_fetched_series_per_query)
            ss = merge_sets([source.select(list(m), start, end) for m in matcher_sets])
            names = label_names_of(ss)
            return StreamingResponse(
                fmt.encode(tidy_schema(names), tidy_batches(ss, names)), media_type=fmt.media_type,
                headers={"Content-Disposition": f'attachment; filename="export.{fmt.extension}"'})
        return await run_for_tenant(request, multitenancy_enabled, work)

    return export
