"""Which manifest files the SQL views read as they are and which need the duplicate rule."""
from __future__ import annotations

import dataclasses
import random

import numpy as np

from tsdb.analytics.contract import file_sets
from tsdb.manifest import FileEntry, Manifest


def entry(i: int, lo: int, hi: int, resolution: int = 0) -> FileEntry:
    return FileEntry(path=f"t/data/d/{i}.parquet", series_path=f"t/data/d/{i}.series.parquet", day="d", level=0,
                     min_time=lo, max_time=hi, rows=1, series=1, bytes=1, seq=i, schema_version=1,
                     resolution=resolution)


def test_the_sweep_finds_exactly_the_overlapping_files():
    rng = np.random.default_rng(7)
    for n in (0, 1, 2, 3, 10, 200):
        lo = rng.integers(0, 1000, n)
        files = tuple(entry(i, int(a), int(a + rng.integers(0, 60))) for i, a in enumerate(lo))
        sets = file_sets(Manifest(files=files))
        brute = {f.path for f in files
                 if any(g is not f and f.min_time <= g.max_time and g.min_time <= f.max_time for g in files)}
        assert {f.path for f in sets.overlapping} == brute
        assert {f.path for f in sets.alone} == {f.path for f in files} - brute
        assert [f.path for f in sets.alone + sets.overlapping if f.path in brute] == \
            [f.path for f in sets.overlapping]  # manifest order kept


def test_touching_files_overlap_and_downsampled_entries_are_left_out():
    a, b, c = entry(1, 0, 10), entry(2, 10, 20), entry(3, 21, 30)
    sets = file_sets(Manifest(files=(a, b, c, dataclasses.replace(entry(4, 0, 30), resolution=300_000))))
    assert sets.overlapping == (a, b) and sets.alone == (c,)


def test_file_sets_match_the_pairwise_overlap():
    """Many small random manifests against the pairwise definition (a file shares time with
    any other file); every file lands in exactly one of the two sets."""
    rng = random.Random(3)
    for _ in range(500):
        files = []
        for i in range(rng.randint(0, 12)):
            lo = rng.randint(0, 100)
            files.append(entry(i, lo, lo + rng.randint(0, 20)))
        sets = file_sets(Manifest(files=tuple(files)))
        shared = {f.path for f in files
                  if any(g is not f and g.max_time >= f.min_time and g.min_time <= f.max_time for g in files)}
        assert {f.path for f in sets.overlapping} == shared
        assert sorted(f.path for f in sets.alone + sets.overlapping) == sorted(f.path for f in files)
