"""The samples not in the manifest yet (heads, files being committed: a `SeriesSet`) as the
tables the contract's views read: `_recent` (narrow samples) and `_recent_series`."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from promql.engine.source import SeriesSet
from tsdb.labelsets import label_name_counts, label_values
from tsdb.layout.columns import LABELS, LABELS_TYPE, METRIC, METRIC_NAME_LABEL, SERIES_ID, TIMESTAMP, \
    TIMESTAMP_TYPE, VALUE, choose_promoted_labels, label_column_name
from tsdb.layout.writer import WriterOptions
from tsdb.sql.ids import series_ids


def recent_tables(ss: SeriesSet) -> tuple[pa.Table, pa.Table]:
    """Narrow samples (`metric` dictionary-encoded as in the files, `series_id`,
    `timestamp`, `value`; stale markers kept, the views drop them after the duplicate rule)
    and one row per series (`series_id`, `metric`, `labels`)."""
    series = np.repeat(np.arange(ss.n_series, dtype=np.int32), np.diff(ss.offsets))
    labels = pa.array([sorted(d.items()) for d in ss.labels], LABELS_TYPE)
    metric = label_values(labels, METRIC_NAME_LABEL)
    ids = pa.array(ss.series_ids if ss.series_ids is not None else series_ids(ss.labels), pa.uint64())
    samples = pa.table({METRIC: pa.DictionaryArray.from_arrays(pa.array(series), metric),
                        SERIES_ID: ids.take(pa.array(series)),
                        TIMESTAMP: pa.array(np.asarray(ss.timestamps, np.int64)).cast(TIMESTAMP_TYPE),
                        VALUE: pa.array(np.asarray(ss.values, np.float64))})
    return samples, pa.table({SERIES_ID: ids, METRIC: metric, LABELS: labels})


def recent_columns(series: pa.Table) -> set[str]:
    """The label columns a flush of the recent data would promote, so that its labels are
    columns before the flush too."""
    counts = label_name_counts(series.column(LABELS))
    return {label_column_name(n) for n in choose_promoted_labels(counts, WriterOptions().max_promoted_labels)}
