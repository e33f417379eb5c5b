"""The SQL contract through Flight SQL (ADBC) on a real server: label columns over files that
promote different labels, the duplicate rule over overlapping files and the head against
PromQL, and the contract's shape for empty and head-only tenants."""
from __future__ import annotations

import pyarrow as pa
import pytest

from tests.sql.conftest import COLS_N, DUP_N, DUP_SERIES, STEP, T0, connect, dup_expected, dup_sum, points, \
    promql_vector, push, rows


def test_label_columns_a_file_did_not_promote_come_from_its_labels_map(server):
    with connect(server, "sq-cols") as conn:
        schema = conn.adbc_get_table_schema("samples")
        assert schema.names == ["metric", "job", "zone", "labels", "series_id", "timestamp", "value"]
        got = rows(conn, "SELECT job, zone, count(*) FROM samples GROUP BY 1, 2 ORDER BY 1 NULLS LAST, 2 NULLS LAST")
        assert got == [("j", "z3", COLS_N), ("x", "z1", COLS_N), ("y", None, COLS_N), (None, "z2", COLS_N)]
        assert rows(conn, "SELECT count(*) FROM samples WHERE zone = 'z1' AND job = 'x'") == [(COLS_N,)]
        assert rows(conn, "SELECT count(*), sum(samples) FROM series") == [(4, 4 * COLS_N)]
        objects = conn.adbc_get_objects(depth="all", table_name_filter="sam%").read_all().to_pylist()
        tables = [t for c in objects for s in c["catalog_db_schemas"] for t in s["db_schema_tables"]]
        assert [t["table_name"] for t in tables] == ["samples"]
        assert [c["column_name"] for c in tables[0]["table_columns"]] == schema.names


def test_duplicate_rule_over_overlapping_files_and_the_head_matches_promql(server):
    end = T0 + (DUP_N - 1) * STEP
    counts = promql_vector(server, "sq-dup", "count_over_time(sq_dup[1h])", end)
    sums = promql_vector(server, "sq-dup", "sum_over_time(sq_dup[1h])", end)
    assert counts == {"i0": DUP_N, "i1": DUP_N} and sums == {"i0": dup_sum(), "i1": dup_sum()}
    with connect(server, "sq-dup") as conn:
        got = rows(conn, "SELECT instance, count(*), sum(value) FROM samples GROUP BY 1 ORDER BY 1")
        assert got == [(k, int(counts[k]), pytest.approx(sums[k])) for k in ("i0", "i1")]
        changed = rows(conn, f"""SELECT CAST("timestamp" AS BIGINT), value FROM samples
                                 WHERE instance = 'i0' AND "timestamp" IN (to_timestamp_millis({T0 + 60 * STEP}),
                                       to_timestamp_millis({T0 + 145 * STEP})) ORDER BY 1""")
        assert [v for _, v in changed] == [dup_expected()[60], dup_expected()[145]]
        series = rows(conn, "SELECT labels['instance'], metric, samples, CAST(min_time AS BIGINT), "
                            "CAST(max_time AS BIGINT) FROM series ORDER BY 1")
        assert series == [(lb["instance"], "sq_dup", DUP_N, T0, end) for lb in DUP_SERIES]
        # A filter on the metric reaches the scan of the overlapping files; the answer is the same.
        assert rows(conn, "SELECT count(*) FROM samples WHERE metric = 'sq_dup'") == [(2 * DUP_N,)]


def test_stale_markers_are_not_samples_and_nan_values_are(server):
    counts = promql_vector(server, "sq-stale", "count_over_time(sq_stale[1h])", T0 + 20 * STEP)
    assert counts == {"s1": 10, "s2": 10, "s3": 5}
    with connect(server, "sq-stale") as conn:
        got = rows(conn, "SELECT instance, count(*), count(*) FILTER (WHERE isnan(value)) FROM samples "
                         "GROUP BY 1 ORDER BY 1")
        assert got == [(k, int(n), 1 if k == "s2" else 0) for k, n in sorted(counts.items())]
        # `series` counts stored rows, as the sidecars do: a closing stale marker included.
        assert rows(conn, "SELECT labels['instance'], samples FROM series ORDER BY 1") == [("s1", 11), ("s2", 10),
                                                                                          ("s3", 6)]


def test_head_after_the_files_is_read_as_it_is(server):
    """The head shares no time with a file: no duplicate rule, the same answers."""
    series = [{"__name__": "sq_a", "pod": f"p{i}"} for i in range(2)]
    push(server, "sq-after", [(lb, points(0, 10)) for lb in series])
    server.flush()
    push(server, "sq-after", [(lb, points(10, 15)) for lb in series])
    with connect(server, "sq-after") as conn:
        assert rows(conn, "SELECT pod, count(*), sum(value) FROM samples GROUP BY 1 ORDER BY 1") == [
            (lb["pod"], 15, float(sum(range(15)))) for lb in series]
        assert rows(conn, "SELECT labels['pod'], samples, CAST(max_time AS BIGINT) FROM series ORDER BY 1") == [
            (lb["pod"], 15, T0 + 14 * STEP) for lb in series]
        plan = "\n".join(str(r[1]) for r in rows(conn, "EXPLAIN SELECT count(*) FROM samples"))
        assert "_seq" not in plan and "first_value" not in plan


def test_empty_tenant_has_the_contracts_tables(server):
    with connect(server, "sq-nobody") as conn:
        assert rows(conn, "SELECT count(*) FROM samples") == [(0,)]
        assert rows(conn, "SELECT count(*) FROM series") == [(0,)]
        schema = conn.adbc_get_table_schema("samples")
        assert schema.names == ["metric", "labels", "series_id", "timestamp", "value"]
        assert schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
        assert schema.field("series_id").type == pa.uint64()


def test_head_only_tenant_has_its_label_columns_before_the_flush(server):
    push(server, "sq-head", [({"__name__": "sq_h", "team": "a"}, points(0, 10)),
                             ({"__name__": "sq_h", "team": "b"}, points(0, 5))])
    with connect(server, "sq-head") as conn:
        assert rows(conn, "SELECT team, count(*) FROM samples GROUP BY 1 ORDER BY 1") == [("a", 10), ("b", 5)]
        assert rows(conn, "SELECT sum(samples) FROM series WHERE labels['team'] = 'a'") == [(10,)]
