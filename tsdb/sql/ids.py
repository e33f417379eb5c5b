"""Prometheus' `labels.Hash()` of label sets held as dicts (DESIGN §3's `series_id`), for the
rows SQL builds itself: `promql()` results, and recent data whose source gave no ids."""
from __future__ import annotations

import numpy as np

from tsdb.ha_tracker import xxh64_many


def series_ids(label_sets: list[dict[str, str]]) -> np.ndarray:
    """xxhash64 (seed 0) over each set's labels in name order, as `name 0xff value 0xff`."""
    keys = [b"".join(k.encode() + b"\xff" + v.encode() + b"\xff" for k, v in sorted(labels.items()))
            for labels in label_sets]
    if not keys:
        return np.zeros(0, np.uint64)
    lengths = np.array([len(k) for k in keys], np.int64)
    return xxh64_many(np.frombuffer(b"".join(keys), np.uint8), np.cumsum(lengths) - lengths, lengths)
