"""Series metadata over head plus bucket: what `/api/v1/series`, `/labels` and
`/label/<name>/values` answer.

Sources are the ingester's head snapshot and the series sidecars of the manifest's
files that overlap the time range; sample files are never touched. The head is read
*before* the manifest, so a series moving from head to bucket during the request is
seen at least once; duplicates collapse on `series_id`.
"""
from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tsdb.head import SERIES_SCHEMA
from tsdb.ingester import Ingester
from tsdb.labelsets import label_names, label_values
from tsdb.manifest import FileEntry, Manifest, ManifestStore
from tsdb.storage.bucket import Bucket
from tsdb.tenancy import Tenant

FileFilter = Callable[[Manifest], Sequence[FileEntry]]

MIN_TIME = -(2**62)
MAX_TIME = 2**62


@dataclass
class SidecarCache:
    """Sidecars are immutable, so they are cached by path (LRU, bounded by count)."""

    bucket: Bucket
    max_entries: int = 512
    _entries: OrderedDict = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, path: str) -> pa.Table:
        with self._lock:
            table = self._entries.get(path)
            if table is not None:
                self._entries.move_to_end(path)
                return table
        table = pq.read_table(io.BytesIO(self.bucket.get(path)))
        with self._lock:
            self._entries[path] = table
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return table


class SeriesReader:
    def __init__(self, ingester: Ingester, bucket: Bucket, manifests: ManifestStore) -> None:
        self.ingester = ingester
        self.manifests = manifests
        self.sidecars = SidecarCache(bucket)

    def series(self, tenant: Tenant, start: int = MIN_TIME, end: int = MAX_TIME, *,
               files: FileFilter | None = None, read_head: bool = True) -> pa.Table:
        """Distinct series (series_id, labels) with samples in [start, end]; `files`
        narrows the manifest, `read_head=False` leaves the head out (a store gateway)."""
        parts = [self._head_series(tenant, start, end) if read_head else SERIES_SCHEMA.empty_table()]
        manifest = self.manifests.load(tenant)
        entries = manifest.files if files is None else files(manifest)
        for entry in (e for e in entries if e.max_time >= start and e.min_time <= end):
            side = self.sidecars.get(entry.series_path)
            lo = pc.cast(side.column("min_time"), pa.int64())
            hi = pc.cast(side.column("max_time"), pa.int64())
            mask = pc.and_(pc.less_equal(lo, end), pc.greater_equal(hi, start))
            parts.append(side.filter(mask).select(["series_id", "labels"]).cast(SERIES_SCHEMA))
        table = pa.concat_tables(parts)
        _, first = np.unique(table.column("series_id").to_numpy(), return_index=True)
        return table.take(pa.array(first))

    def _head_series(self, tenant: Tenant, start: int, end: int) -> pa.Table:
        snap = self.ingester.snapshot(tenant)
        if snap is None or snap.samples.num_rows == 0:
            return SERIES_SCHEMA.empty_table()
        ranges = snap.samples.group_by("series_id").aggregate([("timestamp", "min"), ("timestamp", "max")])
        lo = ranges.column("timestamp_min").to_numpy()
        hi = ranges.column("timestamp_max").to_numpy()
        active = ranges.column("series_id").to_numpy()[(lo <= end) & (hi >= start)]
        series = snap.series
        return series.filter(pa.array(np.isin(series.column("series_id").to_numpy(), active)))

    def select(self, tenant: Tenant, matcher_sets: Sequence[Sequence], start: int = MIN_TIME,
               end: int = MAX_TIME, **scope) -> pa.Table:
        """Series matching any of the matcher sets (each set ANDed), as `match[]` does.
        `scope`: `files` and `read_head`, as `series` takes them."""
        table = self.series(tenant, start, end, **scope)
        if not matcher_sets:
            return table
        labels = table.column("labels").combine_chunks()
        keep = np.zeros(table.num_rows, bool)
        for matchers in matcher_sets:
            mask = np.ones(table.num_rows, bool)
            for m in matchers:
                mask &= m.match_array(label_values(labels, m.name)).to_numpy(zero_copy_only=False)
            keep |= mask
        return table.filter(pa.array(keep))

    def label_names(self, tenant: Tenant, matcher_sets: Sequence[Sequence], start: int = MIN_TIME,
                    end: int = MAX_TIME, **scope) -> list[str]:
        table = self.select(tenant, matcher_sets, start, end, **scope)
        return label_names(table.column("labels"))

    def label_values(self, tenant: Tenant, name: str, matcher_sets: Sequence[Sequence], start: int = MIN_TIME,
                     end: int = MAX_TIME, **scope) -> list[str]:
        table = self.select(tenant, matcher_sets, start, end, **scope)
        values = label_values(table.column("labels"), name).drop_null()
        return sorted(pc.unique(values).to_pylist())
