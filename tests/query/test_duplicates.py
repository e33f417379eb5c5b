"""The duplicate rule: same (series_id, timestamp) in several places keeps the copy with
the highest write sequence (head > files; among files the higher manifest seq)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from tests.query.conftest import as_rows, commit_file, head_series_ids, matchers, push
from tests.support import BASE_TS, bits
from tsdb.query import StorageSource
from tsdb.query.merge import Part, merge
from tsdb.tenancy import Tenant

TENANT = Tenant("dups")
STEP = 15_000
LABELS = {"__name__": "dup_metric", "job": "api"}
KEY = tuple(sorted(LABELS.items()))


def test_highest_write_sequence_wins(services):
    ts = [BASE_TS + i * STEP for i in range(10)]
    push(services, TENANT, [(LABELS, [(ts[8], 30.0), (ts[9], 31.0)])])  # the head: newest writes
    sid = head_series_ids(services, TENANT)[KEY]
    labels = {sid: list(LABELS.items())}
    # File seq 1: ts[0..7] = 10.x; file seq 2: ts[3..9] = 20.x except ts[3] identical to file 1's copy.
    first = commit_file(services, TENANT, [sid] * 8, labels, ts[:8], [10.0 + i for i in range(8)])
    second = commit_file(services, TENANT, [sid] * 7, labels, ts[3:], [13.0] + [20.0 + i for i in range(4, 10)])
    assert first[0].seq < second[0].seq

    got = as_rows(StorageSource(services, TENANT).select(matchers("dup_metric"), ts[0], ts[-1]))
    want = ([10.0, 11.0, 12.0]       # only in file 1
            + [13.0]                 # identical copies in both files: one sample
            + [24.0, 25.0, 26.0, 27.0]  # file 2 beats file 1
            + [30.0, 31.0])          # the head beats both files
    assert got == {KEY: [(t, bits(v)) for t, v in zip(ts, want)]}


def test_order_of_manifest_does_not_matter_only_seq(services):
    """A later file holding older data (a backfill) still wins on the overlap."""
    ts = [BASE_TS + i * STEP for i in range(6)]
    push(services, TENANT, [(LABELS, [(ts[0] - 10 * STEP, 0.0)])])
    sid = head_series_ids(services, TENANT)[KEY]
    labels = {sid: list(LABELS.items())}
    commit_file(services, TENANT, [sid] * 4, labels, ts[2:], [1.0] * 4)
    commit_file(services, TENANT, [sid] * 4, labels, ts[:4], [2.0] * 4)  # newer seq, earlier times
    got = as_rows(StorageSource(services, TENANT).select(matchers("dup_metric"), ts[0], ts[-1]))
    assert got == {KEY: [(t, bits(v)) for t, v in zip(ts, [2.0, 2.0, 2.0, 2.0, 1.0, 1.0])]}


def _labels(n: int) -> pa.MapArray:
    return pa.array([[("__name__", f"s{i}")] for i in range(n)], pa.map_(pa.string(), pa.string()))


def _part(sid, ts, values) -> Part:
    return Part(np.array(sid, np.uint64), np.array(ts, np.int64), np.array(values, np.float64))


def test_merge_fast_path_and_dedup_path_agree():
    ids = np.array([5, 7, 9], np.uint64)
    # Two files in time order, series interleaved differently in each: the run path.
    a = _part([7, 7, 5, 5], [1, 2, 1, 2], [1, 2, 3, 4])
    b = _part([5, 7, 7], [3, 3, 4], [5, 6, 7])
    out = merge([a, b], ids, _labels(3))
    assert [d["__name__"] for d in out.labels] == ["s1", "s0"]  # first appearance order
    assert out.offsets.tolist() == [0, 4, 7]
    assert out.timestamps.tolist() == [1, 2, 3, 4, 1, 2, 3]
    assert out.values.tolist() == [1, 2, 6, 7, 3, 4, 5]
    # Overlap: the later part wins; within a part (the head) the later write wins.
    head = _part([9, 5, 9], [1, 2, 1], [100, 200, 300])
    out = merge([a, b, head], ids, _labels(3))
    rows = {out.labels[i]["__name__"]: list(zip(out.timestamps[out.offsets[i]:out.offsets[i + 1]].tolist(),
                                                out.values[out.offsets[i]:out.offsets[i + 1]].tolist()))
            for i in range(out.n_series)}
    assert rows == {"s0": [(1, 3), (2, 200), (3, 5)], "s1": [(1, 1), (2, 2), (3, 6), (4, 7)], "s2": [(1, 300)]}


def test_merge_single_part_is_not_copied_and_empty_is_empty():
    part = _part([7, 7, 5], [1, 2, 1], [1, 2, 3])
    out = merge([part], np.array([5, 7], np.uint64), _labels(2))
    assert np.shares_memory(out.values, part.values)
    empty = merge([_part([], [], [])], np.zeros(0, np.uint64), _labels(0))
    assert empty.n_series == 0 and empty.offsets.tolist() == [0] and len(empty.values) == 0
