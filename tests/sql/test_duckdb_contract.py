"""The same contract through the DuckDB helper, over the same server's files: label columns a
file did not promote, the duplicate rule over overlapping files, and stale markers. The
helper reads the bucket only, so the server is flushed first (other tests of the package
flush it too)."""
from __future__ import annotations

import pytest

from tests.sql.conftest import COLS_N, DUP_SERIES, STEP, T0, dup_expected
from tsdb.analytics import duckdb_connect


@pytest.fixture
def duck(server):
    server.flush()
    cons = []

    def open_for(tenant: str):
        cons.append(duckdb_connect(tenant, data_dir=server.data_dir))
        return cons[-1]
    yield open_for
    for con in cons:
        con.close()


def test_label_columns_a_file_did_not_promote_come_from_its_labels_map(duck):
    con = duck("sq-cols")
    assert [r[0] for r in con.sql("DESCRIBE samples").fetchall()] == \
        ["metric", "job", "zone", "labels", "series_id", "timestamp", "value"]
    got = con.sql("SELECT job, zone, count(*) FROM samples GROUP BY 1, 2 ORDER BY 1 NULLS LAST, 2 NULLS LAST").fetchall()
    assert got == [("j", "z3", COLS_N), ("x", "z1", COLS_N), ("y", None, COLS_N), (None, "z2", COLS_N)]
    assert con.sql("SELECT count(*), sum(samples) FROM series").fetchall() == [(4, 4 * COLS_N)]


def test_duplicate_rule_over_the_flushed_overlapping_files(duck):
    want = dup_expected()  # three overlapping files, each later one changing a value
    con = duck("sq-dup")
    got = con.sql("SELECT instance, count(*), sum(value) FROM samples GROUP BY 1 ORDER BY 1").fetchall()
    assert got == [(lb["instance"], len(want), pytest.approx(sum(want.values()))) for lb in DUP_SERIES]
    changed = con.sql(f"""SELECT epoch_ms("timestamp"), value FROM samples WHERE instance = 'i0'
                          AND epoch_ms("timestamp") IN ({T0 + 60 * STEP}, {T0 + 145 * STEP}) ORDER BY 1""").fetchall()
    assert changed == [(T0 + 60 * STEP, want[60]), (T0 + 145 * STEP, want[145])]


def test_stale_markers_are_not_samples_and_nan_values_are(duck):
    con = duck("sq-stale")
    got = con.sql("SELECT instance, count(*), count(*) FILTER (WHERE isnan(value)) FROM samples "
                  "GROUP BY 1 ORDER BY 1").fetchall()
    assert got == [("s1", 10, 0), ("s2", 10, 1), ("s3", 5, 0)]
    # `series` counts stored rows, as the sidecars do: a closing stale marker included.
    assert con.sql("SELECT labels['instance'], samples FROM series ORDER BY 1").fetchall() == [("s1", 11), ("s2", 10), ("s3", 6)]
