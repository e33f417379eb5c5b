"""The in-memory head of one tenant: unflushed samples as Arrow, and per-series state.

Two structures with different lifetimes:
- `SeriesState` (sorted NumPy arrays) holds each series' newest sample timestamp and
  value bits. It outlives flushes and is checkpointed into the WAL, so out-of-order and
  duplicate checks stay right across flush and restart.
- `HeadBlock` holds the samples not yet in the bucket, as a list of Arrow record
  batches, plus the labels of the series it contains. A flush freezes it and starts a
  new one.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tsdb.admission import NO_SAMPLE
from tsdb.layout.columns import LABELS_TYPE

SAMPLES_SCHEMA = pa.schema([("series_id", pa.uint64()), ("timestamp", pa.int64()), ("value", pa.float64())])
SERIES_SCHEMA = pa.schema([("series_id", pa.uint64()), ("labels", LABELS_TYPE)])
STATE_SCHEMA = pa.schema([("series_id", pa.uint64()), ("max_ts", pa.int64()), ("last_bits", pa.uint64())])


def to_ipc(table: pa.Table | pa.RecordBatch) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write(table)
    return sink.getvalue()


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


class SeriesState:
    """Newest sample per series: sorted ids with aligned max timestamps and value bits."""

    def __init__(self) -> None:
        self.ids = np.zeros(0, np.uint64)
        self.max_ts = np.zeros(0, np.int64)
        self.last_bits = np.zeros(0, np.uint64)
        self.watermark = NO_SAMPLE  # the tenant's newest accepted timestamp

    def __len__(self) -> int:
        return len(self.ids)

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Newest (timestamp, bits) of each id; NO_SAMPLE for unknown series."""
        if len(self.ids) == 0:
            return np.full(len(ids), NO_SAMPLE, np.int64), np.zeros(len(ids), np.uint64)
        pos = np.searchsorted(self.ids, ids)
        pos_c = np.minimum(pos, len(self.ids) - 1)
        known = self.ids[pos_c] == ids
        return np.where(known, self.max_ts[pos_c], NO_SAMPLE), np.where(known, self.last_bits[pos_c], 0).astype(np.uint64)

    def update(self, ids: np.ndarray, max_ts: np.ndarray, bits: np.ndarray) -> None:
        """Set the newest sample of `ids` (unique) to the given values."""
        if len(ids) == 0:
            return
        self.watermark = max(self.watermark, int(max_ts.max()))
        pos = np.searchsorted(self.ids, ids)
        pos_c = np.minimum(pos, max(len(self.ids) - 1, 0))
        known = (pos < len(self.ids)) & (self.ids[pos_c] == ids) if len(self.ids) else np.zeros(len(ids), bool)
        self.max_ts[pos_c[known]] = max_ts[known]
        self.last_bits[pos_c[known]] = bits[known]
        new = ~known
        if new.any():
            all_ids = np.concatenate([self.ids, ids[new]])
            order = np.argsort(all_ids, kind="stable")
            self.ids = all_ids[order]
            self.max_ts = np.concatenate([self.max_ts, max_ts[new]])[order]
            self.last_bits = np.concatenate([self.last_bits, bits[new]])[order]

    def absorb(self, ids: np.ndarray, ts: np.ndarray, bits: np.ndarray) -> None:
        """Record accepted samples: each series keeps its newest timestamp, and the bits of
        the first sample written with it (later identical-timestamp writes were rejected
        or ignored)."""
        if len(ids) == 0:
            return
        order = np.lexsort((np.arange(len(ids)), -ts, ids))
        sid = ids[order]
        first = order[np.r_[True, sid[1:] != sid[:-1]]]
        uid, uts, ubits = ids[first], ts[first], bits[first]
        old_ts, _ = self.lookup(uid)
        newer = uts > old_ts
        self.update(uid[newer], uts[newer], ubits[newer])

    def forget_older_than(self, ts: int) -> None:
        """Drop series whose newest sample is older than `ts`: no sample that old can be
        accepted any more, so their state can never matter again."""
        keep = self.max_ts >= ts
        self.ids, self.max_ts, self.last_bits = self.ids[keep], self.max_ts[keep], self.last_bits[keep]

    def to_bytes(self) -> bytes:
        table = pa.table([self.ids, self.max_ts, self.last_bits], schema=STATE_SCHEMA)
        table = table.replace_schema_metadata({"watermark": str(self.watermark)})
        return to_ipc(table)

    @classmethod
    def from_bytes(cls, data: bytes) -> "SeriesState":
        table = from_ipc(data)
        state = cls()
        state.ids = table.column("series_id").to_numpy().astype(np.uint64)
        state.max_ts = table.column("max_ts").to_numpy().astype(np.int64)
        state.last_bits = table.column("last_bits").to_numpy().astype(np.uint64)
        state.watermark = int((table.schema.metadata or {}).get(b"watermark", str(NO_SAMPLE)))
        return state

    def copy(self) -> "SeriesState":
        c = SeriesState()
        c.ids, c.max_ts, c.last_bits, c.watermark = self.ids.copy(), self.max_ts.copy(), self.last_bits.copy(), self.watermark
        return c


@dataclass
class HeadBlock:
    """Unflushed samples and the labels of their series."""

    batches: list[pa.RecordBatch] = field(default_factory=list)
    ranges: list[tuple[int, int]] = field(default_factory=list)  # (min_ts, max_ts) per batch
    series_batches: list[pa.RecordBatch] = field(default_factory=list)
    series_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))  # sorted
    n_samples: int = 0
    created_monotonic: float = 0.0
    min_ts: int = np.iinfo(np.int64).max
    max_ts: int = NO_SAMPLE

    def unknown(self, ids: np.ndarray) -> np.ndarray:
        """Mask of ids whose labels this block does not hold yet."""
        if len(self.series_ids) == 0:
            return np.ones(len(ids), bool)
        pos = np.minimum(np.searchsorted(self.series_ids, ids), len(self.series_ids) - 1)
        return self.series_ids[pos] != ids

    def add_series(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self.series_batches.append(batch)
        ids = batch.column(0).to_numpy()
        self.series_ids = np.union1d(self.series_ids, ids).astype(np.uint64)

    def add_samples(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if not self.batches:
            self.created_monotonic = time.monotonic()
        self.batches.append(batch)
        self.n_samples += batch.num_rows
        mm = pc.min_max(batch.column(1))
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        self.ranges.append((lo, hi))
        self.min_ts = min(self.min_ts, lo)
        self.max_ts = max(self.max_ts, hi)

    def samples(self) -> pa.Table:
        return pa.Table.from_batches(self.batches, SAMPLES_SCHEMA)

    def series(self) -> pa.Table:
        return pa.Table.from_batches(self.series_batches, SERIES_SCHEMA)

    def is_empty(self) -> bool:
        return self.n_samples == 0

    def age_seconds(self) -> float:
        return time.monotonic() - self.created_monotonic if self.batches else 0.0
