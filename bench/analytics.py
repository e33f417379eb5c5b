"""Analytics: Flight SQL throughput for a large result against DuckDB reading the same files
directly (the practical limit), and pandas export throughput against
`pyarrow.parquet.read_table(files).to_pandas()` on the same files.

Data: the disk bench's node-exporter-like set (`bench.feed`), `series` x `steps` at 15 s
(50M rows by default, `--quick` 5M) inside one UTC day three days ago, loaded into
`mytsdb all` by remote write and flushed per 2 h of data (L0 files that do not overlap, so
`samples` reads them as they are). Then, `runs` times each, median:

- Flight SQL: the ADBC driver in this process, `SELECT metric, series_id, "timestamp", value
  FROM samples`, `fetch_arrow_table()`, against DuckDB's `read_parquet([the manifest's
  files])` with the same projection, `fetch_arrow_table()`.
- Export: `Client.export(...).to_pandas()` over HTTP (`format=arrow`) and over Flight, for the
  first `export_fraction` of the span, against `pq.read_table(files, filters=<the same
  span>, columns=<metric, the label columns, timestamp, value>).to_pandas()` (a pandas frame of
  the same rows and columns).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import pyarrow as pa

from bench.analytics_data import STEP_MS, TENANT, loaded, median_run

QUERY = 'SELECT metric, series_id, "timestamp", value FROM samples'


@dataclass(frozen=True)
class AnalyticsConfig:
    series: int = 10_000
    steps: int = 5_040          # 21 h at 15 s: 50.4M rows with 10,000 series
    runs: int = 3
    export_fraction: float = 0.2
    concurrency: int = 4

    @classmethod
    def quick(cls, **kw) -> "AnalyticsConfig":
        return cls(series=2_000, steps=2_400, runs=2, **kw)


def run(cfg: AnalyticsConfig) -> dict:
    import duckdb
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from tsdb.client import Client

    out: dict = {"config": {**asdict(cfg), "rows": cfg.series * cfg.steps}}
    with loaded("analytics", cfg.series, cfg.steps, cfg.concurrency) as data:
        out["load"] = data.load[0]
        files, start = data.files, data.start_ms
        conn = data.flight_sql()

        def flight_sql_rows() -> int:
            with conn.cursor() as cur:
                cur.execute(QUERY)
                return cur.fetch_arrow_table().num_rows

        def duckdb_rows() -> int:
            rel = duckdb.connect().sql(f"SELECT metric, series_id, \"timestamp\", value FROM read_parquet({files!r})")
            return rel.fetch_arrow_table().num_rows

        out["flight_sql"] = median_run("flight sql", cfg.runs, flight_sql_rows)
        out["duckdb"] = median_run("duckdb    ", cfg.runs, duckdb_rows)
        conn.close()
        out["flight_sql_vs_duckdb"] = round(out["flight_sql"]["rows_per_second"] / out["duckdb"]["rows_per_second"], 3)

        end_ms = start + int(cfg.steps * cfg.export_fraction) * STEP_MS - 1
        http = Client(data.target.url, tenant=TENANT)
        flight = Client(data.target.url, tenant=TENANT, flight_url=f"grpc+tcp://127.0.0.1:{data.flight_port}")
        match = '{__name__=~".+"}'

        def read_table_rows() -> int:
            bound = pa.scalar(end_ms, pa.timestamp("ms", tz="UTC"))
            columns = sorted({n for f in files for n in pq.read_schema(f).names} - {"labels", "series_id"})
            table = pq.read_table(files, columns=columns, filters=pc.field("timestamp") <= bound)
            return len(table.to_pandas())

        out["export_http"] = median_run("export http  ", cfg.runs,
                                        lambda: len(http.export(match, start / 1000, end_ms / 1000).to_pandas()))
        out["export_flight"] = median_run("export flight", cfg.runs,
                                          lambda: len(flight.export(match, start / 1000, end_ms / 1000).to_pandas()))
        out["read_table"] = median_run("read_table   ", cfg.runs, read_table_rows)
        for k in ("export_http", "export_flight"):
            out[f"{k}_vs_read_table"] = round(out[k]["rows_per_second"] / out["read_table"]["rows_per_second"], 3)
    print(f"[analytics] Flight SQL / DuckDB {out['flight_sql_vs_duckdb']:.2f}; export over HTTP / read_table "
          f"{out['export_http_vs_read_table']:.2f}, over Flight {out['export_flight_vs_read_table']:.2f}", flush=True)
    return out


def markdown(r: dict) -> str:
    c = r["config"]
    fs, dk = r["flight_sql"], r["duckdb"]
    lines = ["| analytics benchmark | MyTSDB | reference | MyTSDB / reference | goal |", "|---|---:|---:|---:|---|",
             f"| Flight SQL, rows/s (`{QUERY}`, {fs['rows']:,} rows, ADBC `fetch_arrow_table`) against DuckDB "
             f"`read_parquet` of the same files | {fs['rows_per_second']:,} | {dk['rows_per_second']:,} "
             f"| {r['flight_sql_vs_duckdb']:.2f} | ≥ 0.5: {'met' if r['flight_sql_vs_duckdb'] >= 0.5 else '**not met**'} |"]
    rt = r["read_table"]
    for key, how in (("export_http", "`/api/v1/export?format=arrow`"), ("export_flight", "Flight")):
        e = r[key]
        lines.append(f"| pandas export, rows/s (`Client.export(...).to_pandas()` over {how}, {e['rows']:,} rows) "
                     f"against `pq.read_table(files).to_pandas()` | {e['rows_per_second']:,} | {rt['rows_per_second']:,} "
                     f"| {r[key + '_vs_read_table']:.2f} | — |")
    lines.append("")
    lines.append(f"Data: {c['series']:,} series × {c['steps']:,} steps at 15 s ({c['rows'] / 1e6:g}M rows) in "
                 f"non-overlapping L0 files; median of {c['runs']}.")
    return "\n".join(lines) + "\n"
