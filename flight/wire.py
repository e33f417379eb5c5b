"""What crosses the wire of the internal query service: requests (tickets and action
bodies) as strict JSON, and series data as Arrow, one row per series.

The tenant is never part of a request: it travels in the call metadata only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import orjson
import pyarrow as pa

from promql.engine.source import SeriesSet
from promql.matchers import Matcher
from tsdb.layout.columns import LABELS_TYPE

SERIES_DATA_SCHEMA = pa.schema([
    pa.field("series_id", pa.uint64(), nullable=False),
    pa.field("labels", LABELS_TYPE),
    pa.field("timestamps", pa.large_list(pa.int64())),
    pa.field("values", pa.large_list(pa.float64())),
])


@dataclass(frozen=True)
class Request:
    """A select (DoGet ticket) or a series/labels action body. `matcher_sets` are ANDed
    within a set and ORed across sets (a select has exactly one set). `files` limits a
    store gateway (or an ingester) to those manifest files."""

    kind: str                              # select | series | label_names | label_values | metadata
    matcher_sets: tuple[tuple[Matcher, ...], ...] = ()
    start_ms: int = 0
    end_ms: int = 0
    files: tuple[str, ...] | None = None
    name: str | None = None                # label_values
    # To an ingester: serve only the own flushed files committed after this manifest
    # version (the querier reads older ones from the store gateways).
    after_seq: int | None = None

    def encode(self) -> bytes:
        return orjson.dumps({
            "kind": self.kind, "start_ms": self.start_ms, "end_ms": self.end_ms,
            "matcher_sets": [[[m.name, m.op, m.value, m.dot_matches_newline] for m in ms] for ms in self.matcher_sets],
            "files": list(self.files) if self.files is not None else None, "name": self.name,
            "after_seq": self.after_seq})

    @classmethod
    def decode(cls, data: bytes) -> "Request":
        try:
            raw = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise ValueError(f"malformed request: {e}") from None
        if not isinstance(raw, dict):
            raise ValueError("malformed request: not an object")
        allowed = {"kind", "start_ms", "end_ms", "matcher_sets", "files", "name", "after_seq"}
        extra = set(raw) - allowed
        if extra:  # a `tenant` key included: the tenant comes from call metadata only
            raise ValueError(f"malformed request: unknown keys {sorted(extra)}")
        try:
            kind, start, end = raw["kind"], raw.get("start_ms", 0), raw.get("end_ms", 0)
            if kind not in ("select", "series", "label_names", "label_values", "metadata"):
                raise ValueError(f"unknown kind {kind!r}")
            if not (isinstance(start, int) and isinstance(end, int)):
                raise ValueError("start_ms and end_ms must be integers")
            sets = tuple(tuple(_matcher(m) for m in ms) for ms in raw.get("matcher_sets") or [])
            files = raw.get("files")
            if files is not None and not (isinstance(files, list) and all(isinstance(f, str) for f in files)):
                raise ValueError("files must be a list of strings")
            name = raw.get("name")
            if name is not None and not isinstance(name, str):
                raise ValueError("name must be a string")
            after_seq = raw.get("after_seq")
            if after_seq is not None and not isinstance(after_seq, int):
                raise ValueError("after_seq must be an integer")
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed request: {e}") from None
        return cls(kind, sets, start, end, tuple(files) if files is not None else None, name, after_seq)


def _matcher(raw: list) -> Matcher:
    name, op, value, dotnl = raw
    if op not in ("=", "!=", "=~", "!~") or not isinstance(name, str) or not isinstance(value, str):
        raise ValueError(f"bad matcher {raw!r}")
    m = Matcher(name, op, value, bool(dotnl))
    m.validate()
    return m


def series_set_batches(ss: SeriesSet, max_samples: int = 1 << 20) -> Iterator[pa.RecordBatch]:
    """The set as record batches of whole series, each holding about `max_samples`."""
    n = ss.n_series
    if n == 0:
        return
    ids = ss.series_ids if ss.series_ids is not None else np.zeros(n, np.uint64)
    offsets = np.asarray(ss.offsets, np.int64)
    # Series boundaries where the running sample count crosses a multiple of max_samples.
    cuts = np.unique(np.r_[0, np.searchsorted(offsets[1:], np.arange(max_samples, offsets[-1], max_samples)) + 1, n])
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        lo, hi = int(lo), int(hi)
        off = pa.array(offsets[lo:hi + 1] - offsets[lo], pa.int64())
        a, b = int(offsets[lo]), int(offsets[hi])
        labels = pa.array([sorted(d.items()) for d in ss.labels[lo:hi]], LABELS_TYPE)
        yield pa.RecordBatch.from_arrays([
            pa.array(ids[lo:hi], pa.uint64()), labels,
            pa.LargeListArray.from_arrays(off, pa.array(ss.timestamps[a:b], pa.int64())),
            pa.LargeListArray.from_arrays(off, pa.array(ss.values[a:b], pa.float64())),
        ], schema=SERIES_DATA_SCHEMA)


def series_set_from_table(table: pa.Table) -> SeriesSet:
    if table.num_rows == 0:
        return SeriesSet.empty()
    batch = table.combine_chunks().to_batches()[0] if table.num_columns else None
    ts_list, v_list = batch.column("timestamps"), batch.column("values")
    offsets = ts_list.offsets.to_numpy().astype(np.int64)
    offsets = offsets - offsets[0]
    return SeriesSet(
        labels=[dict(pairs) for pairs in batch.column("labels").to_pylist()],
        offsets=offsets,
        timestamps=np.ascontiguousarray(ts_list.flatten().to_numpy(), np.int64),
        values=np.ascontiguousarray(v_list.flatten().to_numpy(), np.float64),
        series_ids=batch.column("series_id").to_numpy().astype(np.uint64),
    )
