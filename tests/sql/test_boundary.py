"""The Flight SQL boundary on a real server: literals naming the server's own files are
refused with INVALID_ARGUMENT, errors while a result streams are INVALID_ARGUMENT too, and
the server keeps serving after each."""
from __future__ import annotations

import adbc_driver_flightsql.dbapi as flight_sql
import pytest

from tests.sql.conftest import COLS_N, connect


def test_literals_naming_the_servers_files_are_refused(server):
    a_file = next((server.data_dir / "bucket" / "sq-dup" / "data").rglob("*.parquet"))
    wal = server.data_dir / "wal"
    with connect(server, "sq-cols") as conn, conn.cursor() as cur:
        for sql, why in ((f"SELECT count(*) FROM samples WHERE metric = '{a_file}'", "data file"),
                         (f"SELECT count(*) FROM samples WHERE metric = '{a_file.parent}'", "server's storage"),
                         (f"SELECT '{wal}' AS w", "server's storage"),
                         (f"SELECT count(*) FROM samples WHERE metric = 'file://{a_file.parent}'", "URL"),
                         ("SELECT count(*) FROM samples WHERE metric = '../sq-dup/data/'", "parent directory"),
                         ("SELECT count(*) FROM samples WHERE metric = 'sq-dup/data/'", "object key"),
                         ("SELECT '--', * FROM read_parquet('x')", "read_parquet")):
            with pytest.raises(flight_sql.ProgrammingError) as e:
                cur.execute(sql)
            assert "INVALID_ARGUMENT" in str(e.value) and why.lower() in str(e.value).lower(), (sql, str(e.value))
        cur.execute("SELECT count(*) FROM samples WHERE labels['handler'] = '/api/v1/query'")
        assert cur.fetchall() == [(0,)]
        cur.execute("SELECT count(*) FROM samples")
        assert cur.fetchall() == [(4 * COLS_N,)]


def test_an_error_while_streaming_is_invalid_argument(server):
    with connect(server, "sq-cols") as conn, conn.cursor() as cur:
        with pytest.raises(flight_sql.Error, match="(?i)INVALID_ARGUMENT.*divide by zero"):
            cur.execute("SELECT CAST(value AS BIGINT) / CAST(0 AS BIGINT) FROM samples")
            cur.fetchall()
        cur.execute("SELECT count(*) FROM series")
        assert cur.fetchall() == [(4,)]
