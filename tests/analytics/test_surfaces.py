"""The analytics surfaces on one real `mytsdb all` server: DuckDB over the bucket (the helper
and the CLI), the export endpoint in its three formats, and the Python client over HTTP and
over Flight give the same numbers as PromQL, count duplicates once, and stay in one tenant."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from tests.analytics.conftest import (END_S, N, START_S, T0, close, duckdb_numbers, expected, grouped,
                                      promql_numbers)
from tsdb.analytics import duckdb_connect
from tsdb.client import Client, ClientError
from tsdb.compactor import Compactor
from tsdb.config import config_from_dict
from tsdb.storage.bucket import open_bucket
from tsdb.tenancy import Tenant



def test_duckdb_export_client_and_promql_agree(server):
    want = expected()
    close(promql_numbers(server.url), want)

    con = duckdb_connect("an-a", data_dir=server.data_dir)
    close(duckdb_numbers(con), want)
    # The contract's columns: labels named like fixed columns are escaped; the map holds all.
    cols = [r[0] for r in con.sql("DESCRIBE samples").fetchall()]
    assert cols == ["metric", "__label_timestamp", "__label_value", "instance", "job", "labels", "series_id",
                    "timestamp", "value"]
    assert con.sql("SELECT labels['timestamp'] FROM samples WHERE job = 'odd' LIMIT 1").fetchall()[0] == ("t",)
    series = dict(con.sql("SELECT coalesce(labels['instance'], labels['job']), samples FROM series").fetchall())
    assert series == {k: N for k in want}

    parquet, arrow = (lambda b: pq.read_table(io.BytesIO(b))), (lambda b: ipc.open_stream(b).read_all())
    for fmt, compression, read in (("parquet", None, parquet), ("parquet", "none", parquet), ("arrow", None, arrow),
                                   ("arrow", "zstd", arrow), ("arrow", "none", arrow),
                                   ("csv", None, lambda b: pacsv.read_csv(io.BytesIO(b)))):
        path = ("/prometheus" if fmt == "csv" else "") + "/api/v1/export"  # served under both, like the API
        params = {"match[]": '{__name__=~"an_.*"}', "start": START_S, "end": END_S, "format": fmt,
                  **({"compression": compression} if compression else {})}
        with server.client("an-a") as c:
            r = c.get(path, params=params)
        assert r.status_code == 200, r.text
        close(grouped(read(r.content)), want)

    client = Client(server.url, tenant="an-a")
    close(grouped(client.export('{__name__=~"an_.*"}', START_S, END_S).to_arrow()), want)
    flight = Client(server.url, tenant="an-a", flight_url=f"grpc+tcp://127.0.0.1:{server.flight_port}")
    close(grouped(flight.export('{__name__=~"an_.*"}', START_S, END_S).to_arrow()), want)


def test_client_frames_have_tidy_types(server):
    client = Client(server.url, tenant="an-a")
    pdf = client.query_range("an_requests_total", START_S, END_S, "60s").to_pandas()
    assert str(pdf["timestamp"].dtype) == "datetime64[ms, UTC]" and str(pdf["value"].dtype) == "float64"
    assert {"metric", "job", "instance", "timestamp", "value"} <= set(pdf.columns)
    pl = client.export("an_odd", START_S, END_S).to_polars()
    assert pl.columns == ["metric", "__label_timestamp", "__label_value", "job", "timestamp", "value"]
    assert str(pl.schema["timestamp"]) == "Datetime(time_unit='ms', time_zone='UTC')" and len(pl) == N
    assert set(client.series("an_requests_total").to_pandas()["instance"]) == {f"i{i}" for i in range(5)}
    arrow = client.export('{__name__=~"an_.*"}', START_S, END_S)
    parquet = client.export('{__name__=~"an_.*"}', START_S, END_S, format="parquet")
    assert parquet.to_arrow().equals(arrow.to_arrow()) and len(arrow) == 6 * N
    pdf = parquet.to_pandas()
    assert str(pdf["timestamp"].dtype) == "datetime64[ms, UTC]" and str(pdf["job"].dtype) == "category"


def test_tenants_stay_apart(server):
    a = duckdb_connect("an-a", data_dir=server.data_dir)
    b = duckdb_connect("an-b", data_dir=server.data_dir)
    assert a.sql("SELECT count(*) FROM samples WHERE job = 'secret'").fetchall()[0] == (0,)
    assert b.sql("SELECT count(*), sum(value) FROM samples").fetchall()[0] == (1, 42.0)
    assert len(Client(server.url, tenant="an-a").export('{job="secret"}', START_S, END_S)) == 0
    empty = duckdb_connect("an-nobody", data_dir=server.data_dir)
    assert empty.sql("SELECT count(*) FROM samples").fetchall()[0] == (0,)
    assert empty.sql("SELECT count(*) FROM series").fetchall()[0] == (0,)


def test_bad_export_requests_are_400(server):
    with server.client("an-a") as c:
        for params, error in (({"start": START_S}, "no match[] parameter provided"),
                              ({"match[]": "an_odd", "format": "xlsx"}, 'unknown format "xlsx"'),
                              ({"match[]": "an_odd{"}, "parse error"),
                              ({"match[]": "an_odd", "start": "yesterday"}, 'invalid parameter "start"'),
                              ({"match[]": "an_odd", "format": "csv", "compression": "zstd"},
                               'invalid parameter "compression"'),
                              ({"match[]": "an_odd", "format": "arrow", "compression": "gzip"},
                               'not one of lz4, zstd, none')):
            r = c.get("/api/v1/export", params=params)
            assert r.status_code == 400 and r.json()["errorType"] == "bad_data", r.text
            assert error in r.json()["error"]
    with pytest.raises(ClientError) as e:
        Client(server.url, tenant="an-a").export("an_odd{", START_S, END_S)
    assert e.value.status == 400


def test_a_compaction_in_progress_never_double_counts(server, tmp_path):
    """Compacted files are in the bucket next to the files they replace (marked, not yet
    deleted): the views read the manifest's list, so the numbers do not change."""
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(server.data_dir / "bucket", copy / "bucket")
    cfg = config_from_dict({"data_dir": str(copy), "compactor": {"deletion_delay": "100d"}})
    summary = Compactor(cfg, open_bucket(cfg.storage), clock=lambda: (T0 + 3 * 86_400_000) / 1000).run_once(
        [Tenant("an-a")])
    assert summary.jobs == 1 and summary.rows_written == 6 * N and summary.duplicates_removed > 200
    assert len(list((copy / "bucket" / "an-a" / "data").rglob("*.parquet"))) == 3  # old two + the new one
    con = duckdb_connect("an-a", data_dir=copy)
    close(duckdb_numbers(con), expected())
    assert con.sql("SELECT sum(samples) FROM series").fetchall() == [(6 * N,)]


def test_mytsdb_duckdb_runs_one_statement(server):
    exe = Path(sys.executable).with_name("mytsdb")
    out = subprocess.run([str(exe), "duckdb", "--tenant", "an-a", "--data-dir", str(server.data_dir), "-c",
                          "SELECT count(*) AS n FROM samples"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert str(6 * N) in out.stdout
    shell = subprocess.run([str(exe), "duckdb", "--tenant", "an-a", "--data-dir", str(server.data_dir)],
                           input="SELECT count(*) AS n\n  FROM series;\nSELEC 1;\nSELECT 'still here';\n",
                           capture_output=True, text=True, timeout=60)
    assert shell.returncode == 0, shell.stderr
    assert "6" in shell.stdout and "still here" in shell.stdout and "syntax error" in shell.stderr.lower()
    bad = subprocess.run([str(exe), "duckdb", "--tenant", "an-a", "--data-dir", str(server.data_dir), "-c",
                          "SELEC 1"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "syntax error" in bad.stderr.lower()


@pytest.mark.parametrize("example", ["duckdb_bucket", "pandas_export", "polars_export", "pandas_export+flight",
                                     "duckdb_bucket+env", "polars_export+env"])
def test_examples_run(server, example):
    """Each example as a user runs it: with flags, or with the `MYTSDB_*` environment."""
    root = Path(__file__).resolve().parents[2]
    name, _, how = example.partition("+")
    if name == "duckdb_bucket":
        settings = {"data-dir": str(server.data_dir), "tenant": "an-a"}
    else:
        settings = {"url": server.url, "tenant": "an-a", "match": '{__name__=~"an_.*"}', "start": str(START_S),
                    "end": str(END_S)}
        if how == "flight":
            settings["flight"] = f"grpc+tcp://127.0.0.1:{server.flight_port}"
    env = dict(os.environ)
    if how == "env":
        args = []
        env.update({"MYTSDB_" + k.upper().replace("-", "_"): v for k, v in settings.items()})
    else:
        args = [a for k, v in settings.items() for a in (f"--{k}", v)]
    out = subprocess.run([sys.executable, str(root / "examples" / f"{name}.py"), *args], capture_output=True,
                         text=True, timeout=120, cwd=root, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "an_requests_total" in out.stdout
    if name != "duckdb_bucket":
        assert f"{6 * N:,} samples" in out.stdout


def test_what_the_grafana_note_says_works(server):
    """examples/grafana.md: the Prometheus data source's calls, under `/prometheus`, with the
    `X-Scope-OrgID` header selecting the tenant."""
    with server.client("an-a") as c:
        assert c.get("/prometheus/api/v1/status/buildinfo").json()["data"]["version"]
        assert "job" in c.get("/prometheus/api/v1/labels").json()["data"]
        assert c.get("/prometheus/api/v1/label/job/values").json()["data"] == ["api", "odd"]
        r = c.get("/prometheus/api/v1/query_range", params={"query": "sum(rate(an_requests_total[1m]))", "start": START_S,
                                                            "end": END_S, "step": 60})
        assert r.status_code == 200 and len(r.json()["data"]["result"]) == 1
        assert c.get("/prometheus/api/v1/metadata").status_code == 200
    with server.client("an-b") as b:
        assert b.get("/prometheus/api/v1/label/job/values").json()["data"] == ["secret"]
