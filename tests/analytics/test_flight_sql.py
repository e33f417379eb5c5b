"""Arrow Flight SQL through the ADBC driver against a real `mytsdb all` server: the same
numbers as PromQL and DuckDB, head data included, catalog calls, prepared statements, the
`promql()` table function, tenant isolation and the refused statements."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from google.protobuf import any_pb2

from tests.analytics.conftest import END_S, N, close, dataset, expected, push
from tests.fixtures.server import BACKFILL_CONFIG
from schemas.flightsql import FlightSql_pb2 as sql_pb


def connect(server, tenant: str | None = None, token: str | None = None):
    options = {}
    if tenant is not None:
        options["adbc.flight.sql.rpc.call_header.x-scope-orgid"] = tenant
    if token is not None:
        options["adbc.flight.sql.authorization_header"] = f"Bearer {token}"
    return flight_sql.connect(f"grpc://127.0.0.1:{server.flight_port}", db_kwargs=options)


def rows(conn, sql: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_flight_sql_gives_promql_and_duckdb_numbers(server):
    with connect(server, "an-a") as conn:
        got = rows(conn, "SELECT coalesce(instance, job), count(*), sum(value) FROM samples GROUP BY 1")
        close({k: (n, s) for k, n, s in got}, expected())
        assert rows(conn, "SELECT count(*) FROM samples WHERE labels['job'] = 'odd' AND __label_value = 'v'") == [(N,)]
        series = dict(rows(conn, "SELECT coalesce(labels['instance'], labels['job']), samples FROM series"))
        assert series == {k: N for k in expected()}
        # promql(): PromQL's answer as a table, post-processed in SQL.
        got = rows(conn, f"SELECT labels['instance'], value FROM promql('count_over_time(an_requests_total[2h])', "
                         f"{END_S}, {END_S}, '1m') ORDER BY 1")
        assert got == [(f"i{i}", float(N)) for i in range(5)]


def test_head_data_is_included_and_counted_once_after_its_flush(server):
    series = [(lb, s[:50]) for lb, s in dataset()[:2]]
    with server.client("an-sql-head") as c:
        push(c, series)
    with connect(server, "an-sql-head") as conn:
        assert rows(conn, "SELECT count(*), count(DISTINCT series_id) FROM samples") == [(100, 2)]
        server.flush()
        with server.client("an-sql-head") as c:
            push(c, [(lb, s[40:60]) for lb, s in dataset()[:2]])  # 10 copies of flushed samples, 10 new
        assert rows(conn, "SELECT count(*) FROM samples") == [(120,)]
        assert rows(conn, "SELECT sum(samples) FROM series") == [(120,)]


def test_catalog_calls_and_prepared_statements(server):
    with connect(server, "an-a") as conn:
        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        assert [(c["catalog_name"], s["db_schema_name"], sorted(t["table_name"] for t in s["db_schema_tables"]))
                for c in objects for s in c["catalog_db_schemas"]] == [("mytsdb", "public", ["samples", "series"])]
        schema = conn.adbc_get_table_schema("samples")
        assert schema.names == ["metric", "__label_timestamp", "__label_value", "instance", "job", "labels",
                                "series_id", "timestamp", "value"]
        assert conn.adbc_get_table_types() == ["VIEW"]
        assert conn.adbc_get_info()["vendor_name"] == "MyTSDB"
        with conn.cursor() as cur:
            cur.adbc_prepare("SELECT count(*) AS n FROM samples WHERE job = 'api'")
            cur.execute("SELECT count(*) AS n FROM samples WHERE job = 'api'")
            assert cur.fetchall() == [(5 * N,)]


def test_tenants_are_isolated_and_file_access_is_refused(server):
    with connect(server, "an-b") as conn:
        assert rows(conn, "SELECT count(*), sum(value) FROM samples") == [(1, 42.0)]
    a_file = next((server.data_dir / "bucket" / "an-a" / "data").rglob("*.parquet"))
    with connect(server, "an-b") as conn, conn.cursor() as cur:
        for sql, why in ((f"SELECT * FROM read_parquet('../an-a/data/{a_file.parent.name}/{a_file.name}')", "read_parquet"),
                         (f"SELECT count(*) FROM '{a_file}'", "string literal"),
                         (f"CREATE EXTERNAL TABLE stolen STORED AS PARQUET LOCATION '{a_file.parent}'", "CREATE"),
                         ("COPY samples TO '/tmp/stolen.csv'", "COPY"),
                         ("DROP VIEW samples", "DROP"),
                         ("SELECT 1; SELECT 2", "one statement"),
                         ("SELECT '--', * FROM read_parquet('x.parquet')", "read_parquet"),  # not a comment
                         ("SELECT * FROM an_a.samples", "not found")):
            with pytest.raises(flight_sql.ProgrammingError) as e:
                cur.execute(sql)
            assert "INVALID_ARGUMENT" in str(e.value) and why.lower() in str(e.value).lower(), (sql, str(e.value))
        cur.execute("SELECT count(*) FROM samples")  # the server keeps serving
        assert cur.fetchall() == [(1,)]


def test_bad_sql_is_invalid_argument_and_a_handle_is_bound_to_its_tenant(server):
    with connect(server, "an-a") as conn, conn.cursor() as cur:
        for sql in ("SELEC 1", "SELECT nope FROM samples", "SELECT * FROM samples WHERE"):
            with pytest.raises(flight_sql.ProgrammingError, match="INVALID_ARGUMENT"):
                cur.execute(sql)
        with pytest.raises(flight_sql.ProgrammingError, match="1:6: parse error"):
            cur.execute("SELECT * FROM promql('rate(', 0, 60, '1m')")
    client = fl.FlightClient(f"grpc+tcp://127.0.0.1:{server.flight_port}")
    cmd = any_pb2.Any()
    cmd.Pack(sql_pb.CommandStatementQuery(query="SELECT sum(value) FROM samples"))
    as_a = fl.FlightCallOptions(headers=[(b"x-scope-orgid", b"an-a")])
    as_b = fl.FlightCallOptions(headers=[(b"x-scope-orgid", b"an-b")])
    info = client.get_flight_info(fl.FlightDescriptor.for_command(cmd.SerializeToString()), as_a)
    with pytest.raises(pa.ArrowInvalid, match="unknown or expired statement handle"):  # INVALID_ARGUMENT
        client.do_get(info.endpoints[0].ticket, as_b).read_all()
    assert client.do_get(info.endpoints[0].ticket, as_a).read_all().num_rows == 1
    with pytest.raises(pa.ArrowInvalid, match="unknown or expired statement handle"):  # a ticket is fetched once
        client.do_get(info.endpoints[0].ticket, as_a).read_all()
    with pytest.raises(fl.FlightUnauthenticatedError):
        client.get_flight_info(fl.FlightDescriptor.for_command(cmd.SerializeToString()))


def test_bearer_tokens_pick_the_tenant(mytsdb_factory):
    server = mytsdb_factory(config={**BACKFILL_CONFIG, "server": {"flight_sql_tokens": {"s3cret": "tok-a"}}}).start()
    with server.client("tok-a") as c:
        push(c, [(lb, s[:10]) for lb, s in dataset()[:1]])
    with connect(server, token="s3cret") as conn:
        assert rows(conn, "SELECT count(*) FROM samples") == [(10,)]
    with connect(server, tenant="tok-a") as conn, pytest.raises(flight_sql.Error, match="(?i)unauthenticated|token"):
        rows(conn, "SELECT count(*) FROM samples")  # the header alone no longer names a tenant


def test_example_runs(server):
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(root / "examples" / "flightsql_adbc.py"), "--flight",
                          f"grpc://127.0.0.1:{server.flight_port}", "--tenant", "an-a"],
                         capture_output=True, text=True, timeout=120, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "an_requests_total" in out.stdout and "samples" in out.stdout


def test_files_written_with_different_sort_labels_union(server):
    """Each flush records the labels it sorted by; files that differ there are one table."""
    with server.client("an-sql-meta") as c:
        push(c, [(lb, s[:20]) for lb, s in dataset()])  # sorted by job and instance
        server.flush()
        push(c, [(lb, s[20:30]) for lb, s in dataset()[:1]])  # one series: no sort label
        server.flush()
    with connect(server, "an-sql-meta") as conn:
        assert rows(conn, "SELECT count(*) FROM samples") == [(6 * 20 + 10,)]
