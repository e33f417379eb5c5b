"""Remove one label from decoded series, and give them the series ID of what remains.

The HA tracker removes the replica label before storage, so both replicas of an HA pair
write the same series. The ID is Prometheus' `labels.Hash()` (xxhash64 of every label,
in name order, as name 0xff value 0xff), recomputed for the series that had the label.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

SEP = b"\xff"


def drop_label(series_id: np.ndarray, label_offsets: np.ndarray, names: pa.Array, values: pa.Array,
               label: str) -> tuple[np.ndarray, np.ndarray, pa.Array, pa.Array]:
    """(series_id, label_offsets, names, values) without `label` (labels sorted by name)."""
    drop = pc.equal(names, label).to_numpy(zero_copy_only=False)
    if not drop.any():
        return series_id, label_offsets, names, values
    keep = ~drop
    owner = np.repeat(np.arange(len(series_id)), np.diff(label_offsets))
    kept_per_series = np.bincount(owner[keep], minlength=len(series_id))
    offsets = np.zeros(len(series_id) + 1, np.int64)
    np.cumsum(kept_per_series, out=offsets[1:])
    mask = pa.array(keep)
    names, values = names.filter(mask), values.filter(mask)
    changed = np.flatnonzero(np.bincount(owner[drop], minlength=len(series_id)))
    ids = series_id.copy()
    pairs = pc.binary_join_element_wise(names.cast(pa.binary()), values.cast(pa.binary()), SEP)  # name 0xff value
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pairs), SEP)
    for i in changed:  # one hash per series, not per sample
        text = joined[int(i)].as_py()
        ids[i] = xxhash.xxh64_intdigest(text + SEP if text else b"")
    return ids, offsets, names, values
