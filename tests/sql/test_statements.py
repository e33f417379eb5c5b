"""Statement handles: a prepared statement plans again on each execution (it reads the data
of then), a ticket serves one `DoGet`, and handles are bounded and bound to their tenant."""
from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.flight as fl
import pytest
from google.protobuf import any_pb2

from flight.sql_handles import Handles, Statement
from schemas.flightsql import FlightSql_pb2 as sql_pb
from tests.sql.conftest import connect, points, push
from tsdb.sql.guard import SqlRefused
from tsdb.tenancy import Tenant


def test_a_prepared_statement_reads_the_data_of_each_execution(server):
    push(server, "sq-prep", [({"__name__": "sq_p"}, points(0, 10))])
    query = "SELECT count(*) AS n FROM samples"
    with connect(server, "sq-prep") as conn, conn.cursor() as cur:
        cur.adbc_prepare(query)
        cur.execute(query)
        assert cur.fetchall() == [(10,)]
        push(server, "sq-prep", [({"__name__": "sq_p"}, points(10, 15))])
        cur.execute(query)
        assert cur.fetchall() == [(15,)]


def test_a_ticket_serves_one_do_get(server):
    client = fl.FlightClient(f"grpc+tcp://127.0.0.1:{server.flight_port}")
    options = fl.FlightCallOptions(headers=[(b"x-scope-orgid", b"sq-cols")])
    cmd = any_pb2.Any()
    cmd.Pack(sql_pb.CommandStatementQuery(query="SELECT count(*) FROM samples"))
    info = client.get_flight_info(fl.FlightDescriptor.for_command(cmd.SerializeToString()), options)
    assert client.do_get(info.endpoints[0].ticket, options).read_all().num_rows == 1
    with pytest.raises(pa.ArrowInvalid, match="unknown or expired statement handle"):
        client.do_get(info.endpoints[0].ticket, options).read_all()
    schema = client.get_schema(fl.FlightDescriptor.for_command(cmd.SerializeToString()), options).schema
    assert schema.names == ["count(*)"]


def test_handles_are_bounded_and_bound_to_their_tenant():
    a, b = Tenant.parse("a"), Tenant.parse("b")
    handles = Handles(2)
    first = handles.add(Statement(a, "SELECT 1", pa.schema([])))
    second = handles.add(Statement(a, "SELECT 2", pa.schema([])))
    with pytest.raises(SqlRefused):
        handles.get(b, second)
    handles.add(Statement(b, "SELECT 3", pa.schema([])))
    with pytest.raises(SqlRefused):  # the oldest expired
        handles.get(a, first)
    assert handles.get(a, second, take=True).query == "SELECT 2"
    assert len(handles) == 1
    handles.close(a, second)  # already taken: nothing to do


def test_unfetched_tickets_expire_by_age():
    a = Tenant.parse("a")
    handles = Handles(10, max_age_s=0.005)
    old = handles.add(Statement(a, "SELECT 1", pa.schema([])))
    time.sleep(0.02)
    new = handles.add(Statement(a, "SELECT 2", pa.schema([])))
    with pytest.raises(SqlRefused):
        handles.get(a, old)
    assert handles.get(a, new).query == "SELECT 2"


def test_parameters_bind_through_adbc(server):
    """ADBC sends `?` parameters with DoPut on a prepared statement; each execution binds its own."""
    with connect(server, "sq-cols") as conn, conn.cursor() as cur:
        query = "SELECT count(*) AS n, min(job) AS job FROM samples WHERE job = ? AND value >= ?"
        cur.execute(query, ("x", 10.0))
        assert cur.fetchall() == [(10, "x")]
        cur.execute(query, ("y", 0.0))
        assert cur.fetchall() == [(20, "y")]
        cur.execute("SELECT $2 AS b, $1 AS a", (1, "two"))
        assert cur.fetchall() == [("two", 1)]
        with pytest.raises(Exception, match="(?i)placeholder"):  # a parameter with no value
            cur.execute("SELECT count(*) FROM samples WHERE job = ? AND zone = ?", ("x",))


def test_parameters_need_one_row_and_their_tenant(server):
    client = fl.FlightClient(f"grpc+tcp://127.0.0.1:{server.flight_port}")
    mine = fl.FlightCallOptions(headers=[(b"x-scope-orgid", b"sq-cols")])
    other = fl.FlightCallOptions(headers=[(b"x-scope-orgid", b"sq-dup")])
    create = any_pb2.Any()
    create.Pack(sql_pb.ActionCreatePreparedStatementRequest(query="SELECT count(*) FROM samples WHERE job = ?"))
    raw = list(client.do_action(fl.Action("CreatePreparedStatement", create.SerializeToString()), mine))[0]
    created = any_pb2.Any.FromString(raw.body.to_pybytes())
    result = sql_pb.ActionCreatePreparedStatementResult()
    created.Unpack(result)
    cmd = any_pb2.Any()
    cmd.Pack(sql_pb.CommandPreparedStatementQuery(prepared_statement_handle=result.prepared_statement_handle))
    descriptor = fl.FlightDescriptor.for_command(cmd.SerializeToString())

    def put(params: pa.Table, options):
        writer, reader = client.do_put(descriptor, params.schema, options)
        writer.write_table(params)
        writer.done_writing()
        answer = reader.read()
        writer.close()
        return answer

    with pytest.raises(pa.ArrowInvalid, match="one row of parameters"):
        put(pa.table({"0": ["x", "y"]}), mine)
    with pytest.raises(pa.ArrowInvalid, match="unknown or expired statement handle"):
        put(pa.table({"0": ["x"]}), other)
    answer = sql_pb.DoPutPreparedStatementResult.FromString(put(pa.table({"0": ["x"]}), mine).to_pybytes())
    assert answer.prepared_statement_handle == result.prepared_statement_handle
    info = client.get_flight_info(descriptor, mine)
    assert client.do_get(info.endpoints[0].ticket, mine).read_all().column(0).to_pylist() == [20]
