"""What a data file's Parquet footer tells the planner: row-group row spans, the
min/max statistics of `timestamp` and `metric`, and the byte ranges of the projected
column chunks. Parsed once per file and cached (files are immutable, paths unique).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from tsdb.layout.columns import METRIC, SERIES_ID, TIMESTAMP, VALUE

PROJECTION = (SERIES_ID, TIMESTAMP, VALUE)
# Written by tsdb.layout.writer. (Not the Parquet `sorting_columns`: those hold Arrow field
# positions where Parquet means leaf columns, so past the `labels` map they name the wrong column.)
SORT_LABELS_KEY = b"mytsdb.sort_labels"
_NO_MIN = np.iinfo(np.int64).min
_NO_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class FileLayout:
    metadata: pq.FileMetaData
    rg_start: np.ndarray       # int64[n_rg]: first row of each row group
    rg_end: np.ndarray         # int64[n_rg]: one past its last row
    ts_min: np.ndarray         # int64[n_rg] (unbounded where statistics are missing)
    ts_max: np.ndarray
    metric_min: tuple[str | None, ...]
    metric_max: tuple[str | None, ...]
    chunk_start: np.ndarray    # int64[n_rg, len(PROJECTION)]: byte offset of each projected column chunk
    chunk_size: np.ndarray     # int64[n_rg, len(PROJECTION)]
    sort_labels: tuple[str, ...] | None  # the writer's series order: metric, these labels, series_id

    @property
    def num_row_groups(self) -> int:
        return len(self.rg_start)

    @property
    def num_rows(self) -> int:
        return int(self.rg_end[-1]) if len(self.rg_end) else 0

    @classmethod
    def from_metadata(cls, md: pq.FileMetaData) -> "FileLayout":
        n = md.num_row_groups
        rows = np.array([md.row_group(i).num_rows for i in range(n)], np.int64)
        ts_min = np.full(n, _NO_MIN, np.int64)
        ts_max = np.full(n, _NO_MAX, np.int64)
        m_min: list[str | None] = [None] * n
        m_max: list[str | None] = [None] * n
        chunk_start = np.zeros((n, len(PROJECTION)), np.int64)
        chunk_size = np.zeros((n, len(PROJECTION)), np.int64)
        for i in range(n):  # per row group, never per row
            rg = md.row_group(i)
            for c in range(rg.num_columns):
                col = rg.column(c)
                name = col.path_in_schema
                stats = col.statistics if col.is_stats_set else None
                if name == TIMESTAMP and stats is not None and stats.has_min_max:
                    ts_min[i], ts_max[i] = int(stats.min_raw), int(stats.max_raw)
                elif name == METRIC and stats is not None and stats.has_min_max:
                    m_min[i], m_max[i] = _text(stats.min), _text(stats.max)
                if name in PROJECTION:
                    k = PROJECTION.index(name)
                    start = col.data_page_offset
                    if col.has_dictionary_page and 0 < col.dictionary_page_offset < start:
                        start = col.dictionary_page_offset
                    chunk_start[i, k], chunk_size[i, k] = start, col.total_compressed_size
        end = np.cumsum(rows)
        kv = md.metadata or {}
        sort_labels = kv.get(SORT_LABELS_KEY)
        return cls(md, end - rows, end, ts_min, ts_max, tuple(m_min), tuple(m_max), chunk_start, chunk_size,
                   None if sort_labels is None else tuple(filter(None, sort_labels.decode().split(","))))


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


@dataclass
class LayoutCache:
    """LRU of per-file facts by object path (parsed footers, whether a sidecar's row spans
    hold), bounded by count. Files are immutable and never reuse a path, so nothing is
    invalidated. Share one per process: a footer costs a ranged GET on object storage."""

    max_entries: int = 4096
    _entries: OrderedDict = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, path: str, kind: str = "layout") -> Any:
        with self._lock:
            value = self._entries.get((kind, path))
            if value is not None:
                self._entries.move_to_end((kind, path))
            return value

    def put(self, path: str, value: Any, kind: str = "layout") -> None:
        with self._lock:
            self._entries[(kind, path)] = value
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
