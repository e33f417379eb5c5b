"""The label -> column naming rule, and collisions, checked through DuckDB itself."""
import time

import duckdb
import pyarrow as pa

from tsdb.head import SERIES_SCHEMA
from tsdb.layout.columns import FIXED_COLUMNS, choose_promoted_labels, label_column_name, label_from_column_name
from tsdb.layout.writer import WriterOptions, build_files


def test_rule_is_injective_and_reversible():
    names = ["job", "timestamp", "Timestamp", "VALUE", "metric", "series_id", "labels", "__replica__",
             "__label_job", "date", "level", "tenant", "_x"]
    cols = [label_column_name(n) for n in names]
    assert len(set(cols)) == len(cols)
    assert not set(cols) & set(FIXED_COLUMNS)
    assert [label_from_column_name(c) for c in cols] == names
    assert label_column_name("job") == "job" and label_column_name("timestamp") == "__label_timestamp"


def test_case_insensitive_collisions_promote_one():
    chosen = choose_promoted_labels({"job": 10, "Job": 3, "env": 5, "__name__": 10}, cap=10)
    assert chosen == ["env", "job"]


def test_colliding_labels_round_trip_through_duckdb(tmp_path):
    now = int(time.time() * 1000)
    label_sets = [{"__name__": "m", "timestamp": "t1", "value": "v1", "metric": "not-the-name", "series_id": "s",
                   "labels": "l", "date": "2020-01-01", "level": "L9", "tenant": "other", "job": "api"}]
    ids = pa.array([42], pa.uint64())
    series = pa.table([ids, pa.array([list(l.items()) for l in label_sets], SERIES_SCHEMA.field("labels").type)],
                      schema=SERIES_SCHEMA)
    samples = pa.table({"series_id": pa.array([42, 42], pa.uint64()), "timestamp": [now, now + 1000],
                        "value": [1.5, 2.5]})
    [built] = build_files(samples, series, WriterOptions())
    d = tmp_path / "t" / "data" / "2026-01-01"
    d.mkdir(parents=True)
    (d / "f.parquet").write_bytes(built.data)
    glob = str(tmp_path / "t" / "data" / "*" / "*.parquet")
    rows = duckdb.execute(
        f"SELECT metric, value, epoch_ms(timestamp), job, __label_timestamp, __label_value, __label_metric, "
        f"__label_series_id, __label_labels, date, level, tenant, series_id "
        f"FROM read_parquet('{glob}') ORDER BY timestamp").fetchall()
    assert rows[0] == ("m", 1.5, now, "api", "t1", "v1", "not-the-name", "s", "l", "2020-01-01", "L9", "other", 42)
    # hive_partitioning on: plain day directories never become columns.
    cols = [c[0] for c in duckdb.execute(
        f"DESCRIBE SELECT * FROM read_parquet('{glob}', hive_partitioning = true)").fetchall()]
    assert cols.count("date") == 1 and "2026-01-01" not in cols
