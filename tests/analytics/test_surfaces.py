"""The analytics surfaces on one real `mytsdb all` server: DuckDB over the bucket (the helper
and the CLI), the export endpoint in its three formats, and the Python client over HTTP and
over Flight give the same numbers as PromQL, count duplicates once, and stay in one tenant."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from tests.analytics.conftest import END_S, N, START_S, T0, close, expected
from tsdb.analytics import duckdb_connect
from tsdb.client import Client, ClientError
from tsdb.compactor import Compactor
from tsdb.config import config_from_dict
from tsdb.storage.bucket import open_bucket
from tsdb.tenancy import Tenant



def promql_numbers(url: str) -> dict[str, tuple[int, float]]:
    c = Client(url, tenant="an-a")
    out = {}
    for fn in ("count_over_time", "sum_over_time"):
        df = c.query(f'{fn}({{__name__=~"an_.*"}}[2h])', time=END_S).to_pandas()
        for _, row in df.iterrows():
            key = row["instance"] if isinstance(row.get("instance"), str) else row["job"]
            out.setdefault(key, [0, 0.0])[0 if fn == "count_over_time" else 1] = row["value"]
    return {k: (int(v[0]), float(v[1])) for k, v in out.items()}


def grouped(table: pa.Table) -> dict[str, tuple[int, float]]:
    df = table.to_pandas()
    key = df["instance"].astype("string").replace("", None).fillna(df["job"].astype("string"))  # CSV writes a missing label as ""
    g = df.groupby(key)["value"].agg(["count", "sum"])
    return {k: (int(r["count"]), float(r["sum"])) for k, r in g.iterrows()}


def test_duckdb_export_client_and_promql_agree(server):
    want = expected()
    close(promql_numbers(server.url), want)

    con = duckdb_connect("an-a", data_dir=server.data_dir)
    rows = con.sql("SELECT coalesce(instance, job), count(*), sum(value) FROM samples GROUP BY 1").fetchall()
    close({k: (n, s) for k, n, s in rows}, want)
    # The contract's columns: labels named like fixed columns are escaped; the map holds all.
    cols = [r[0] for r in con.sql("DESCRIBE samples").fetchall()]
    assert cols == ["metric", "__label_timestamp", "__label_value", "instance", "job", "labels", "series_id",
                    "timestamp", "value"]
    assert con.sql("SELECT labels['timestamp'] FROM samples WHERE job = 'odd' LIMIT 1").fetchall()[0] == ("t",)
    series = dict(con.sql("SELECT coalesce(labels['instance'], labels['job']), samples FROM series").fetchall())
    assert series == {k: N for k in want}

    for fmt, read in (("parquet", lambda b: pq.read_table(io.BytesIO(b))), ("arrow", lambda b: ipc.open_stream(b).read_all()),
                      ("csv", lambda b: pacsv.read_csv(io.BytesIO(b)))):
        with server.client("an-a") as c:
            r = c.get("/api/v1/export", params={"match[]": '{__name__=~"an_.*"}', "start": START_S, "end": END_S,
                                                "format": fmt})
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
                              ({"match[]": "an_odd", "start": "yesterday"}, 'invalid parameter "start"')):
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
    rows = con.sql("SELECT coalesce(instance, job), count(*), sum(value) FROM samples GROUP BY 1").fetchall()
    close({k: (n, s) for k, n, s in rows}, expected())


def test_mytsdb_duckdb_runs_one_statement(server):
    exe = Path(sys.executable).with_name("mytsdb")
    out = subprocess.run([str(exe), "duckdb", "--tenant", "an-a", "--data-dir", str(server.data_dir), "-c",
                          "SELECT count(*) AS n FROM samples"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert str(6 * N) in out.stdout
    bad = subprocess.run([str(exe), "duckdb", "--tenant", "an-a", "--data-dir", str(server.data_dir), "-c",
                          "SELEC 1"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "syntax error" in bad.stderr.lower()


@pytest.mark.parametrize("example", ["duckdb_bucket", "pandas_export", "polars_export", "pandas_export+flight"])
def test_examples_run(server, example):
    root = Path(__file__).resolve().parents[2]
    name, _, flight = example.partition("+")
    if name == "duckdb_bucket":
        args = ["--data-dir", str(server.data_dir), "--tenant", "an-a"]
    else:
        args = ["--url", server.url, "--tenant", "an-a", "--match", '{__name__=~"an_.*"}',
                "--start", str(START_S), "--end", str(END_S)]
        if flight:
            args += ["--flight", f"grpc+tcp://127.0.0.1:{server.flight_port}"]
    out = subprocess.run([sys.executable, str(root / "examples" / f"{name}.py"), *args], capture_output=True,
                         text=True, timeout=120, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "an_requests_total" in out.stdout
    if name != "duckdb_bucket":
        assert f"{6 * N:,} samples" in out.stdout
