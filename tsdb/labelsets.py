"""Vectorised access to label sets held as Arrow `map<string, string>` arrays."""
from __future__ import annotations


import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _entries(labels: pa.MapArray | pa.ChunkedArray) -> tuple[pa.MapArray, pa.Array, pa.Array, np.ndarray]:
    """Keys, values and the parent row of each entry, honouring slice offsets
    (`MapArray.keys` is the whole child array, `offsets` are absolute)."""
    if isinstance(labels, pa.ChunkedArray):
        labels = labels.combine_chunks()
    offsets = labels.offsets.to_numpy()
    lo, hi = int(offsets[0]), int(offsets[-1])
    parents = np.repeat(np.arange(len(labels)), np.diff(offsets))
    return labels, labels.keys.slice(lo, hi - lo), labels.items.slice(lo, hi - lo), parents


def label_values(labels: pa.MapArray | pa.ChunkedArray, name: str) -> pa.Array:
    """The value of label `name` in each label set; null where the label is absent."""
    labels, keys, values, parents = _entries(labels)
    hit = pc.equal(keys, name).to_numpy(zero_copy_only=False)
    idx = np.full(len(labels), -1, np.int64)
    idx[parents[hit]] = np.flatnonzero(hit)
    return values.take(pa.array(idx, mask=idx < 0))


def label_name_counts(labels: pa.MapArray | pa.ChunkedArray) -> dict[str, int]:
    """How many label sets carry each label name."""
    _, keys, _, _ = _entries(labels)
    counts = pc.value_counts(keys)
    return dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))


def label_names(labels: pa.MapArray | pa.ChunkedArray) -> list[str]:
    """Sorted distinct label names over all label sets."""
    return sorted(label_name_counts(labels))


def to_dicts(labels: pa.MapArray | pa.ChunkedArray) -> list[dict[str, str]]:
    """Python dicts, for JSON responses (one per series, never per sample)."""
    return [dict(pairs) for pairs in labels.to_pylist()]


