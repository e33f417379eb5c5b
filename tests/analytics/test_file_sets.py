"""Which files the SQL views must read through the duplicate rule: the sweep in
`file_sets` against the pairwise definition (a file shares time with any other file)."""
from __future__ import annotations

import random

from tsdb.analytics.contract import file_sets
from tsdb.manifest import FileEntry, Manifest


def test_file_sets_match_the_pairwise_overlap():
    rng = random.Random(3)
    for _ in range(500):
        files = []
        for i in range(rng.randint(0, 12)):
            lo = rng.randint(0, 100)
            files.append(FileEntry(f"f{i}", f"s{i}", "d", 0, lo, lo + rng.randint(0, 20), 1, 1, 1, i, 1))
        sets = file_sets(Manifest(files=tuple(files)))
        shared = {f.path for f in files
                  if any(g is not f and g.max_time >= f.min_time and g.min_time <= f.max_time for g in files)}
        assert {f.path for f in sets.overlapping} == shared
        assert sorted(f.path for f in sets.alone + sets.overlapping) == sorted(f.path for f in files)
