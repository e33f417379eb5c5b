"""The export reads its samples one time window at a time: the windows cover the range once,
adapt their width to the samples they hold, keep one schema (dictionaries sized for every
series) and survive each format's writer."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from promql.engine.source import SeriesSet
from tsdb.api.export import FIRST_WINDOW_MS, FORMATS, Columns, windowed
from tsdb.layout.columns import LABELS_TYPE
from tsdb.query.tidy import tidy_table

HOUR = 3_600_000
STEP = 15_000


def labels(n: int) -> list[dict[str, str]]:
    return [{"__name__": "w", "pod": f"p{k}", **({"late": "y"} if k >= n - 2 else {})} for k in range(n)]


def full_set(n: int, start: int, end: int) -> SeriesSet:
    """`n` series; the last two start half way, so early windows lack their label `late`."""
    ts_all = np.arange(start, end + 1, STEP, dtype=np.int64)
    parts, offsets = [], [0]
    for k in range(n):
        ts = ts_all if k < n - 2 else ts_all[len(ts_all) // 2:]
        parts.append(ts)
        offsets.append(offsets[-1] + len(ts))
    ts = np.concatenate(parts)
    return SeriesSet(labels(n), np.array(offsets, np.int64), ts, (ts // STEP % 1000).astype(np.float64))


def cut(ss: SeriesSet, lo: int, hi: int) -> SeriesSet:
    keep = (ss.timestamps >= lo) & (ss.timestamps <= hi)
    counts = np.add.reduceat(keep, ss.offsets[:-1]) if len(ss.timestamps) else np.zeros(ss.n_series, np.int64)
    present = counts > 0
    offsets = np.r_[0, np.cumsum(counts[present])].astype(np.int64)
    return SeriesSet([lb for lb, p in zip(ss.labels, present) if p], offsets, ss.timestamps[keep], ss.values[keep])


def test_windows_cover_the_range_once_and_adapt():
    start, end = 0, 48 * HOUR - 1
    ss = full_set(100, start, end)
    calls: list[tuple[int, int]] = []

    def select(lo, hi):
        calls.append((lo, hi))
        return cut(ss, lo, hi)

    columns = Columns.of(pa.chunked_array([pa.array([sorted(d.items()) for d in ss.labels], LABELS_TYPE)]))
    batches = windowed(select, columns, start, end, window_samples=100 * 240)  # one hour of samples
    assert calls == [(0, FIRST_WINDOW_MS - 1)]  # the first window is read before any batch is asked for
    table = pa.Table.from_batches(list(batches), schema=columns.schema)
    assert calls[0][0] == start and calls[-1][1] == end
    assert all(b[0] == a[1] + 1 for a, b in zip(calls, calls[1:]))  # no gap, no overlap
    # The next window is sized from the first one's samples: 98 series there (not yet the two late ones).
    assert calls[1][1] - calls[1][0] + 1 == 2 * HOUR * (100 * 240) // (98 * 480)
    whole = tidy_table(ss)
    assert table.num_rows == whole.num_rows == len(ss.timestamps)
    assert table.column_names == whole.column_names == ["metric", "late", "pod", "timestamp", "value"]

    def rows(t: pa.Table):
        df = t.to_pandas()
        df = df.astype({c: str for c in ("metric", "late", "pod")})
        return df.sort_values(["pod", "timestamp"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(rows(table), rows(whole))


def test_every_format_reads_back_across_windows():
    ss = full_set(200, 0, 12 * HOUR - 1)
    columns = Columns.of(pa.chunked_array([pa.array([sorted(d.items()) for d in ss.labels], LABELS_TYPE)]))
    assert columns.schema.field("pod").type == pa.dictionary(pa.int16(), pa.string())  # 200 pods (room for 400)
    assert columns.schema.field("metric").type == pa.dictionary(pa.int8(), pa.string())
    for name, fmt in FORMATS.items():
        batches = windowed(lambda lo, hi: cut(ss, lo, hi), columns, 0, 12 * HOUR - 1, window_samples=50_000)
        body = b"".join(fmt.encode(columns.schema, batches, fmt.compressions[0] if name != "csv" else None))
        if name == "arrow":
            table = ipc.open_stream(body).read_all()
        elif name == "parquet":
            table = pq.read_table(io.BytesIO(body))
        else:
            table = pacsv.read_csv(io.BytesIO(body))
        assert table.num_rows == len(ss.timestamps), name
        assert table.column("value").to_numpy().sum() == ss.values.sum(), name


def test_series_that_arrive_after_the_listing_still_fit():
    ss = full_set(100, 0, HOUR - 1)
    listed = Columns.of(pa.chunked_array([pa.array([sorted(d.items()) for d in ss.labels[:60]], LABELS_TYPE)]))
    assert listed.schema.field("pod").type.index_type == pa.int8()  # 60 pods listed, room for 120
    table = pa.Table.from_batches(list(windowed(lambda lo, hi: cut(ss, lo, hi), listed, 0, HOUR - 1)), listed.schema)
    assert table.num_rows == len(ss.timestamps) and table.column_names == ["metric", "pod", "timestamp", "value"]
