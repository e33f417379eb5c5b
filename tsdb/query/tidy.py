"""Raw samples as a tidy long Arrow table: one row per sample, `metric`, one column per
label, `timestamp` (ms, UTC) and `value`; what the export endpoint streams and the Python
client hands to pandas and polars.

Label columns follow the Parquet layout's naming rule (`tsdb.layout.columns`): a label
named like a fixed column (`timestamp`, `value`, `metric`, ...) or starting with `__` is
`__label_<name>`. Label columns are dictionary-encoded, as in the Parquet files (pandas
gets categoricals), with the narrowest index type their dictionary fits: a label repeats
on every row of its series, so 4-byte indices would be most of an export's bytes. Stale
markers are not samples and are left out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from promql.engine.selectors import is_stale
from promql.engine.source import SeriesSet
from tsdb.layout.columns import METRIC, METRIC_NAME_LABEL, TIMESTAMP, TIMESTAMP_TYPE, VALUE, label_column_name



def index_type(dictionary_size: int) -> pa.DataType:
    """The narrowest signed index type (Arrow's dictionaries want signed) for a dictionary."""
    for t, top in ((pa.int8(), 1 << 7), (pa.int16(), 1 << 15)):
        if dictionary_size <= top:
            return t
    return pa.int32()


def tidy_schema(label_names: list[str], index_types: list[pa.DataType]) -> pa.Schema:
    """`metric`, the label columns (dictionaries with these index types, `metric`'s first),
    `timestamp`, `value`."""
    names = [METRIC, *map(label_column_name, label_names)]
    return pa.schema([pa.field(n, pa.dictionary(t, pa.string())) for n, t in zip(names, index_types)]
                     + [(TIMESTAMP, TIMESTAMP_TYPE), (VALUE, pa.float64())])


def ordered_labels(names) -> list[str]:
    """Label names in column order, `__name__` (the `metric` column) left out: by column name,
    as the SQL views order them."""
    return sorted(set(names) - {METRIC_NAME_LABEL}, key=label_column_name)


def label_names_of(ss: SeriesSet) -> list[str]:
    """The labels of `ss` in column order."""
    return ordered_labels(k for labels in ss.labels for k in labels)


@dataclass(frozen=True)
class Tidy:
    """A series set ready to be cut into tidy batches: `schema` is known before the first
    batch (a stream's writer needs it), and `batches()` yields rows of whole series."""

    ss: SeriesSet
    schema: pa.Schema
    per_series: tuple[pa.DictionaryArray, ...]  # per label column: one entry per series

    @classmethod
    def of(cls, ss: SeriesSet, label_names: list[str] | None = None,
           index_types: list[pa.DataType] | None = None) -> "Tidy":
        """`label_names` (in column order) and the index type of each dictionary column
        (`metric` first) fix the schema, as a stream cut in parts needs; by default both
        come from `ss`."""
        names = label_names_of(ss) if label_names is None else label_names
        # One dictionary entry per distinct value and one index per series: rows only take indices.
        per_series = []
        for i, n in enumerate([METRIC_NAME_LABEL, *names]):
            encoded = pc.dictionary_encode(pa.array([labels.get(n) for labels in ss.labels], pa.string()))
            indices = index_types[i] if index_types is not None else index_type(len(encoded.dictionary))
            per_series.append(pa.DictionaryArray.from_arrays(encoded.indices.cast(indices), encoded.dictionary))
        return cls(ss, tidy_schema(names, [a.type.index_type for a in per_series]), tuple(per_series))

    def batches(self, batch_rows: int = 1 << 20) -> Iterator[pa.RecordBatch]:
        """About `batch_rows` rows each (whole series), all of `schema`."""
        ss = self.ss
        keep = ~is_stale(ss.values)
        kept = np.r_[0, np.cumsum(keep)][ss.offsets]  # row offsets of each series after the drop
        ts, values = ss.timestamps[keep], ss.values[keep]
        start = 0
        while start < ss.n_series:
            stop = int(np.searchsorted(kept, kept[start] + batch_rows, side="right")) - 1
            stop = min(max(stop, start + 1), ss.n_series)
            lo, hi = int(kept[start]), int(kept[stop])
            take = pa.array(np.repeat(np.arange(start, stop), np.diff(kept[start:stop + 1])))
            columns = [pa.DictionaryArray.from_arrays(a.indices.take(take), a.dictionary) for a in self.per_series]
            columns += [pa.array(ts[lo:hi]).cast(TIMESTAMP_TYPE), pa.array(values[lo:hi], pa.float64())]
            yield pa.RecordBatch.from_arrays(columns, schema=self.schema)
            start = stop

    def table(self) -> pa.Table:
        return pa.Table.from_batches(list(self.batches()), schema=self.schema)


def tidy_table(ss: SeriesSet) -> pa.Table:
    return Tidy.of(ss).table()
