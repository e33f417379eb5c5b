"""Raw samples as a tidy long Arrow table: one row per sample, `metric`, one column per
label, `timestamp` (ms, UTC) and `value`; what the export endpoint streams and the Python
client hands to pandas and polars.

Label columns follow the Parquet layout's naming rule (`tsdb.layout.columns`): a label
named like a fixed column (`timestamp`, `value`, `metric`, ...) or starting with `__` is
`__label_<name>`. Label columns are dictionary-encoded, as in the Parquet files (pandas
gets categoricals). Stale markers are not samples and are left out.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from promql.engine.source import SeriesSet
from tsdb.layout.columns import METRIC, METRIC_NAME_LABEL, TIMESTAMP, TIMESTAMP_TYPE, VALUE, label_column_name

_STALE_BITS = np.uint64(0x7FF0000000000002)


LABEL_TYPE = pa.dictionary(pa.int32(), pa.string())  # as the Parquet layout stores them; pandas: categorical


def tidy_schema(label_names: list[str]) -> pa.Schema:
    return pa.schema([(METRIC, LABEL_TYPE)] + [(label_column_name(n), LABEL_TYPE) for n in label_names]
                     + [(TIMESTAMP, TIMESTAMP_TYPE), (VALUE, pa.float64())])


def label_names_of(ss: SeriesSet) -> list[str]:
    """The labels of `ss` in column order: by column name, as the SQL views order them."""
    return sorted({k for labels in ss.labels for k in labels} - {METRIC_NAME_LABEL}, key=label_column_name)


def tidy_batches(ss: SeriesSet, label_names: list[str] | None = None,
                 batch_rows: int = 1 << 20) -> Iterator[pa.RecordBatch]:
    """`ss` in batches of about `batch_rows` rows (whole series), all of one schema."""
    names = label_names_of(ss) if label_names is None else label_names
    schema = tidy_schema(names)
    keep = np.asarray(ss.values, np.float64).view(np.uint64) != _STALE_BITS
    kept = np.r_[0, np.cumsum(keep)][ss.offsets]  # row offsets of each series after the drop
    ts, values = ss.timestamps[keep], ss.values[keep]
    # One dictionary entry per distinct value and one index per series: rows only take indices.
    per_series = {n: pc.dictionary_encode(pa.array([labels.get(n) for labels in ss.labels], pa.string()))
                  for n in [METRIC_NAME_LABEL, *names]}
    start = 0
    while start < ss.n_series:
        stop = int(np.searchsorted(kept, kept[start] + batch_rows, side="right")) - 1
        stop = min(max(stop, start + 1), ss.n_series)
        lo, hi = int(kept[start]), int(kept[stop])
        take = pa.array(np.repeat(np.arange(start, stop), np.diff(kept[start:stop + 1])))
        columns = [pa.DictionaryArray.from_arrays(per_series[n].indices.take(take), per_series[n].dictionary)
                   for n in [METRIC_NAME_LABEL, *names]]
        columns += [pa.array(ts[lo:hi]).cast(TIMESTAMP_TYPE), pa.array(values[lo:hi], pa.float64())]
        yield pa.RecordBatch.from_arrays(columns, schema=schema)
        start = stop


def tidy_table(ss: SeriesSet) -> pa.Table:
    names = label_names_of(ss)
    return pa.Table.from_batches(list(tidy_batches(ss, names)), schema=tidy_schema(names))
