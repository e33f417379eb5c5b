"""The SQL contract's tables, independent of the engine that serves them.

`samples`: `metric`, one column per promoted label (the Parquet layout's naming rule:
`tsdb.layout.columns`), `labels` (all labels, `__name__` included), `series_id`,
`timestamp` (ms, UTC), `value`; every raw sample once under DESIGN §3's duplicate rule.
`series`: `series_id`, `metric`, `labels`, `min_time`, `max_time`, `samples`.

Only the manifest's raw files are read (its exact list, so a compaction in progress never
double counts); downsampled copies are never part of it. Files that overlap another file
in time (L0 flushes, RF copies) need the duplicate rule; the others (L1, L2) are read as
they are, which is most of the data once the compactor ran.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from promql.engine.selectors import is_stale
from tsdb.layout.columns import FIXED_COLUMNS, LABELS, METRIC, SERIES_ID, TIMESTAMP, VALUE
from tsdb.manifest import FileEntry, Manifest

SAMPLES_COLUMNS = (METRIC, LABELS, SERIES_ID, TIMESTAMP, VALUE)  # label columns go after `metric`
SERIES_COLUMNS = (SERIES_ID, METRIC, LABELS, "min_time", "max_time", "samples")


@dataclass(frozen=True)
class FileSets:
    """A tenant's raw files, split by whether the duplicate rule is needed to read them."""

    alone: tuple[FileEntry, ...]        # overlap no other file: every row is a distinct sample
    overlapping: tuple[FileEntry, ...]  # may share (series, timestamp) with another file


def file_sets(manifest: Manifest) -> FileSets:
    """Split by a sweep over the files sorted by start time (n log n, for tenants with many
    files): a file overlaps an earlier-starting one when it starts before the latest end seen
    so far, and a later-starting one when the next file starts before it ends. Non-raw
    entries (downsampled copies, kept apart by the manifest) never get in."""
    files = [f for f in manifest.files if f.resolution == 0]
    if len(files) < 2:
        return FileSets(tuple(files), ())
    order = np.argsort([f.min_time for f in files], kind="stable")
    lo = np.array([files[i].min_time for i in order], np.int64)
    hi = np.array([files[i].max_time for i in order], np.int64)
    ends_before = np.maximum.accumulate(hi)
    shared = np.zeros(len(files), bool)
    shared[1:] |= lo[1:] <= ends_before[:-1]
    shared[:-1] |= hi[:-1] >= lo[1:]
    by_file = np.empty_like(shared)
    by_file[order] = shared
    return FileSets(tuple(f for f, s in zip(files, by_file) if not s), tuple(f for f, s in zip(files, by_file) if s))


def label_columns(names: list[str]) -> list[str]:
    """The promoted label columns among a file set's column names, in name order."""
    return sorted(n for n in names if n not in FIXED_COLUMNS)


def not_stale(values: pa.Array) -> pa.Array:
    """The views' `_not_stale(value)` (an Arrow UDF for both engines): false for Prometheus'
    stale marker, a NaN with its own bits that no SQL function tells from another NaN, true
    for every other value. The views call it only for NaN values."""
    return pa.array(~is_stale(values.to_numpy(zero_copy_only=False)))


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
