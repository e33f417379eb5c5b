"""The tidy long table the export endpoint and the client build from a series set."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from promql.engine.source import SeriesSet
from tsdb.query.tidy import Tidy, index_type, tidy_table

STALE = np.array([0x7FF0000000000002], np.uint64).view(np.float64)[0]


def series_set(n: int, per: int) -> SeriesSet:
    labels = [{"__name__": "m", "i": str(k), **({"odd": "y"} if k % 2 else {}), "value": "v"} for k in range(n)]
    ts = np.tile(np.arange(per, dtype=np.int64) * 1000, n)
    values = np.arange(n * per, dtype=np.float64)
    values[3] = STALE
    return SeriesSet(labels, np.arange(n + 1, dtype=np.int64) * per, ts, values)


def test_rows_columns_and_types():
    t = tidy_table(series_set(5, 4))
    assert t.column_names == ["metric", "__label_value", "i", "odd", "timestamp", "value"]
    assert t.num_rows == 19  # the stale marker is not a sample
    assert t.schema.field("i").type == pa.dictionary(pa.int8(), pa.string())
    assert t.schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    df = t.to_pandas()
    assert str(df["odd"].dtype) == "category" and df["odd"].isna().sum() == 11  # series 0 (less its stale marker), 2 and 4
    assert df["value"].sum() == sum(range(20)) - 3


def test_batches_hold_whole_series_of_one_schema():
    tidy = Tidy.of(series_set(300, 10))
    assert tidy.schema.field("i").type.index_type == pa.int16()  # 300 values
    batches = list(tidy.batches(batch_rows=25))
    assert all(b.schema == tidy.schema for b in batches)
    assert [b.num_rows for b in batches][:3] == [19, 20, 20]  # two series each (the first lost its stale marker)
    assert sum(b.num_rows for b in batches) == 2999
    assert pa.Table.from_batches(batches).equals(tidy.table())


def test_index_type_boundaries_and_empty_sets():
    assert [index_type(n) for n in (0, 128, 129, 1 << 15, (1 << 15) + 1)] == \
        [pa.int8(), pa.int8(), pa.int16(), pa.int16(), pa.int32()]
    empty = tidy_table(SeriesSet.empty())
    assert empty.num_rows == 0 and empty.column_names == ["metric", "timestamp", "value"]
