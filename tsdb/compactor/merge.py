"""Merge a job's input files into one sample stream in output order, deduplicated, in
batches of bounded size.

Memory stays bounded whatever the day's size: the job's series (from the input sidecars,
one row per series, never per sample) are put in output order and cut into batches of
about `batch_samples` samples; each batch reads, from each input file, only the row groups
holding its series (a sidecar lists its series in file order with their sample counts,
which gives each series' rows in the file). Only one batch's samples and the row groups
they came from are in memory at once.

Duplicates follow DESIGN §3, as every reader does: one sample per (series, timestamp);
identical copies count once, and where values differ the file with the highest write
sequence wins.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tsdb.layout.columns import LABELS, SERIES_ID, TIMESTAMP, VALUE
from tsdb.layout.writer import SeriesColumns
from tsdb.manifest import FileEntry
from tsdb.query.reader import ParquetReader
from tsdb.storage.bucket import Bucket


@dataclass(frozen=True)
class Batch:
    """Samples of consecutive series in output order: `series[i]` indexes the job's
    `SeriesColumns`; rows are sorted by (series rank, timestamp), one per pair."""

    series: np.ndarray
    timestamps: np.ndarray
    values: pa.Array
    rows_in: int  # rows read before deduplication


@dataclass
class _Input:
    entry: FileEntry
    ids: np.ndarray          # the file's series, in file order
    row_lo: np.ndarray       # their first row in the file
    row_hi: np.ndarray


class JobSeries:
    """The union of the inputs' series in output order, and each input's series spans."""

    def __init__(self, bucket: Bucket, inputs: Sequence[FileEntry], max_promoted_labels: int) -> None:
        sidecars = [pq.read_table(pa.BufferReader(bucket.get(e.series_path))) for e in inputs]
        self.inputs = []
        for entry, side in zip(inputs, sidecars):
            counts = side.column("samples").to_numpy()
            hi = np.cumsum(counts)
            self.inputs.append(_Input(entry, side.column(SERIES_ID).to_numpy(), hi - counts, hi))
        union = pa.concat_tables([s.select([SERIES_ID, LABELS]) for s in sidecars])
        ids = union.column(SERIES_ID).to_numpy()
        uniq, first = np.unique(ids, return_index=True)
        self.columns = SeriesColumns.of(union.take(pa.array(first)), max_promoted_labels)
        self.sorted_ids = uniq  # columns.ids is in this (ascending id) order
        self.rank = self.columns.rank()
        self.order = np.argsort(self.rank)  # series indexes in output order
        all_samples = np.concatenate([s.column("samples").to_numpy() for s in sidecars]) if sidecars else np.zeros(0)
        self.samples_upper = np.bincount(np.searchsorted(uniq, ids), weights=all_samples,
                                         minlength=len(uniq)).astype(np.int64)

    def __len__(self) -> int:
        return len(self.sorted_ids)

    def batches(self, batch_samples: int) -> list[np.ndarray]:
        """Consecutive runs of `order` holding about `batch_samples` samples each (a series is
        never split; one larger than the budget is a batch of its own)."""
        if len(self.order) == 0:
            return []
        cum = np.cumsum(self.samples_upper[self.order])
        cuts = [0]
        while cuts[-1] < len(cum):
            base = cum[cuts[-1] - 1] if cuts[-1] else 0
            nxt = int(np.searchsorted(cum, base + batch_samples, side="right"))
            cuts.append(max(nxt, cuts[-1] + 1))
        return [self.order[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def merge(series: JobSeries, reader: ParquetReader, batch_samples: int) -> Iterator[Batch]:
    cache: dict[tuple[str, int], pa.Table] = {}
    for members in series.batches(batch_samples):
        wanted = np.sort(series.sorted_ids[members])
        parts, seqs, kept = [], [], {}
        for inp in series.inputs:
            table = _read_series(reader, inp, wanted, cache, kept)
            if table is not None and table.num_rows:
                parts.append(table)
                seqs.append(np.full(table.num_rows, inp.entry.seq, np.int64))
        cache = kept  # row groups this batch used; older ones are released
        if not parts:
            continue
        table = pa.concat_tables(parts)
        sid = table.column(SERIES_ID).to_numpy()
        ts = table.column(TIMESTAMP).cast(pa.int64()).to_numpy()
        seq = np.concatenate(seqs)
        index = np.searchsorted(series.sorted_ids, sid)
        rank = series.rank[index]
        order = np.lexsort((-seq, ts, rank))
        r, t = rank[order], ts[order]
        first = np.r_[True, (r[1:] != r[:-1]) | (t[1:] != t[:-1])]
        keep = order[first]
        values = table.column(VALUE).combine_chunks().take(pa.array(keep))
        yield Batch(index[keep], ts[keep], values, table.num_rows)


def _read_series(reader: ParquetReader, inp: _Input, wanted: np.ndarray, cache: dict, kept: dict) -> pa.Table | None:
    """The rows of `wanted` series in one input file, from the row groups that hold them."""
    hit = np.isin(inp.ids, wanted, assume_unique=True)
    if not hit.any():
        return None
    layout = reader.layout(inp.entry)
    lo, hi = inp.row_lo[hit], inp.row_hi[hit]
    first_rg = np.searchsorted(layout.rg_end, lo, side="right")
    last_rg = np.searchsorted(layout.rg_end, hi - 1, side="right")
    cover = np.zeros(layout.num_row_groups + 1, np.int64)  # +1 where a span starts, -1 past its end
    np.add.at(cover, first_rg, 1)
    np.add.at(cover, last_rg + 1, -1)
    groups = np.flatnonzero(np.cumsum(cover[:-1]) > 0)
    tables = []
    missing = [int(g) for g in groups if (inp.entry.path, int(g)) not in cache]
    if missing:
        fetched = reader.read(inp.entry, layout, np.array(missing))
        offsets = np.cumsum([0] + [int(layout.rg_end[g] - layout.rg_start[g]) for g in missing])
        for g, a, b in zip(missing, offsets[:-1], offsets[1:]):
            cache[(inp.entry.path, g)] = fetched.slice(int(a), int(b - a))
    for g in groups:
        key = (inp.entry.path, int(g))
        kept[key] = cache[key]
        tables.append(cache[key])
    table = pa.concat_tables(tables)
    return table.filter(pc.is_in(table.column(SERIES_ID), pa.array(wanted)))
