"""`GET /api/v1/export?match[]=…&start=…&end=…&format=parquet|arrow|csv[&compression=…]`: raw
samples of the matching series as a tidy long table (`tsdb.query.tidy`), streamed in batches.
`compression`: Parquet `zstd` (default), `lz4`, `snappy`, `none`; Arrow `lz4` (default),
`zstd`, `none`; CSV none.

The samples come from the same source PromQL reads (head plus bucket, the duplicate rule
applied, the tenant's series limit enforced), so exported numbers equal PromQL's.

Memory stays bounded whatever the range: the series are listed first (their label names
make the stream's schema, their number is checked against the limit before any sample is
read), then the samples are read one time window at a time, each window sized from the
last so that it holds about `WINDOW_SAMPLES` samples. Rows come window by window, and by
series then time within a window.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from fastapi import Request
from fastapi.responses import Response, StreamingResponse

import promql
from promql.engine.source import SeriesSet
from tsdb.api.common import APIError, first, run_for_tenant, time_range
from tsdb.labelsets import label_names, label_values
from tsdb.layout.columns import METRIC_NAME_LABEL, TIMESTAMP, VALUE
from tsdb.query.errors import too_many_series
from tsdb.query.merge import merge_sets
from tsdb.query.tidy import Tidy, index_type, ordered_labels, tidy_schema


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


WINDOW_SAMPLES = 4 << 20  # about 100 MB of decoded samples and their tidy batches at a time
FIRST_WINDOW_MS = 2 * 3_600_000
MIN_WINDOW_MS, MAX_WINDOW_MS = 60_000, 31 * 86_400_000


@dataclass(frozen=True)
class Columns:
    """The stream's label columns, from the series listing: names in column order, and each
    dictionary's index type (`metric` first), sized for all the series so it fits every
    window, with room for twice the values (series that arrive in the head while the export
    runs; a label only they carry gets no column)."""

    label_names: list[str]
    index_types: list[pa.DataType]

    @classmethod
    def of(cls, labels: pa.ChunkedArray) -> "Columns":
        names = ordered_labels(label_names(labels))
        sizes = [pc.count_distinct(label_values(labels, n)).as_py() for n in [METRIC_NAME_LABEL, *names]]
        return cls(names, [index_type(2 * k) for k in sizes])

    @property
    def schema(self) -> pa.Schema:
        return tidy_schema(self.label_names, self.index_types)


def windowed(select: Callable[[int, int], SeriesSet], columns: Columns, start: int, end: int,
             window_samples: int = WINDOW_SAMPLES) -> Iterator[pa.RecordBatch]:
    """Tidy batches of `select(lo, hi)` (both ends inclusive) over consecutive windows that
    cover `[start, end]` once. The first window is read now, so its errors come before a
    response starts; each next one is sized from the samples of the last."""
    hi = min(start + FIRST_WINDOW_MS - 1, end)
    return _windows(select, columns, select(start, hi), hi, FIRST_WINDOW_MS, end, window_samples)


def _windows(select, columns: Columns, ss: SeriesSet, hi: int, width: int, end: int,
             window_samples: int) -> Iterator[pa.RecordBatch]:
    while True:
        yield from Tidy.of(ss, columns.label_names, columns.index_types).batches()
        if hi >= end:
            return
        width = int(min(max(width * window_samples // max(len(ss.timestamps), 1), MIN_WINDOW_MS), MAX_WINDOW_MS))
        ss = None  # the last window's samples go before the next window's are read
        lo, hi = hi + 1, min(hi + width, end)
        ss = select(lo, hi)


def make_export_handler(services: Any, source_factory: Callable[..., Any], series_reader: Any,
                        multitenancy_enabled: bool):
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
            limit = cfg.limits_for(tenant).max_fetched_series_per_query
            series = series_reader.select(tenant, matcher_sets, start, end)
            if limit > 0 and series.num_rows > limit:
                raise too_many_series(limit)
            columns = Columns.of(series.column("labels"))
            source = source_factory(services, tenant, limit)
            batches = windowed(lambda lo, hi: merge_sets([source.select(list(m), lo, hi) for m in matcher_sets]),
                               columns, start, end)
            return StreamingResponse(
                fmt.encode(columns.schema, batches, compression), media_type=fmt.media_type,
                headers={"Content-Disposition": f'attachment; filename="export.{fmt.extension}"'})
        return await run_for_tenant(request, multitenancy_enabled, work)

    return export
