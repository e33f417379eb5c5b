"""Flight SQL throughput against DuckDB on the same Parquet files (the practical limit), for
the two layouts the SQL contract reads differently:

- `separate`: files that overlap no other (what the compactor leaves, and an ingester's
  flushes of in-order data), read as they are. `series` x `steps` at 15 s (50.4M rows by
  default, `--quick` 4.8M), one L0 file per 2 h of data. DuckDB: `read_parquet([the
  manifest's files])` with the same projection.
- `overlapping`: the same data written twice (as RF copies are, until the compactor merges
  them): every file overlaps another, so every row goes through the duplicate rule.
  `series` x `overlap_steps` (16.8M samples in 33.6M stored rows; `--quick` 1.9M in 3.8M).
  DuckDB: the same rule, `arg_max(value, write sequence)` per (series, timestamp).

Each case loads a fresh `mytsdb all` by remote write, then runs, `runs` times each (median),
`SELECT metric, series_id, "timestamp", value FROM samples` through the ADBC driver in this
process (`fetch_arrow_table()`), and the DuckDB query (`fetch_arrow_table()`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from bench.analytics import QUERY
from bench.analytics_data import loaded, median_run

COLUMNS = 'metric, series_id, "timestamp", value'


@dataclass(frozen=True)
class FlightSqlBenchConfig:
    series: int = 10_000
    steps: int = 5_040          # 21 h at 15 s: 50.4M rows with 10,000 series
    overlap_steps: int = 1_680  # 7 h, written twice
    runs: int = 3
    concurrency: int = 4

    @classmethod
    def quick(cls, **kw) -> "FlightSqlBenchConfig":
        return cls(series=2_000, steps=2_400, overlap_steps=960, runs=2, **kw)


def _duckdb_query(entries, root, overlapping: bool) -> str:
    files = [str(root / e.path) for e in entries]
    if not overlapping:
        return f"SELECT {COLUMNS} FROM read_parquet({files!r})"
    seqs = ", ".join(f"('{root / e.path}', {e.seq})" for e in entries)
    return (f"SELECT metric, series_id, \"timestamp\", arg_max(value, _seq) AS value "
            f"FROM read_parquet({files!r}, filename = true) JOIN (VALUES {seqs}) AS f(filename, _seq) USING (filename) "
            f"GROUP BY metric, series_id, \"timestamp\"")


def run_case(cfg: FlightSqlBenchConfig, steps: int, copies: int) -> dict:
    import duckdb

    name = "overlapping" if copies > 1 else "separate"
    out: dict = {"rows": cfg.series * steps, "copies": copies}
    with loaded(f"flightsql {name}", cfg.series, steps, cfg.concurrency, copies) as data:
        out["load"] = data.load
        out["files"] = len(data.entries)
        out["stored_rows"] = sum(e.rows for e in data.entries)
        conn = data.flight_sql()

        def flight_sql_rows() -> int:
            with conn.cursor() as cur:
                cur.execute(QUERY)
                return cur.fetch_arrow_table().num_rows

        sql = _duckdb_query(data.entries, data.bucket, copies > 1)
        out["flight_sql"] = median_run(f"{name} flight sql", cfg.runs, flight_sql_rows)
        out["duckdb"] = median_run(f"{name} duckdb    ", cfg.runs,
                                   lambda: duckdb.connect().sql(sql).fetch_arrow_table().num_rows)
        conn.close()
    if out["flight_sql"]["rows"] != out["rows"] or out["duckdb"]["rows"] != out["rows"]:
        raise RuntimeError(f"{name}: expected {out['rows']:,} rows, Flight SQL gave {out['flight_sql']['rows']:,}, "
                           f"DuckDB {out['duckdb']['rows']:,}")
    out["ratio"] = round(out["flight_sql"]["rows_per_second"] / out["duckdb"]["rows_per_second"], 3)
    print(f"[flightsql] {name}: Flight SQL / DuckDB {out['ratio']:.2f}", flush=True)
    return out


def run(cfg: FlightSqlBenchConfig) -> dict:
    return {"config": asdict(cfg), "separate": run_case(cfg, cfg.steps, 1),
            "overlapping": run_case(cfg, cfg.overlap_steps, 2)}


def markdown(r: dict) -> str:
    lines = ["| Flight SQL benchmark (`" + QUERY + "`, ADBC `fetch_arrow_table()`) | MyTSDB rows/s "
             "| DuckDB rows/s | MyTSDB / DuckDB | goal |", "|---|---:|---:|---:|---|"]
    for key, what in (("separate", "files read as they are, against `read_parquet([the same files])`"),
                      ("overlapping", "every sample in two overlapping files, against DuckDB's `arg_max(value, "
                                      "write sequence)` per sample over the same files")):
        c = r[key]
        goal = f"≥ 0.5: {'met' if c['ratio'] >= 0.5 else '**not met**'}" if key == "separate" else "—"
        lines.append(f"| {c['rows']:,} rows, {c['files']} files: {what} | {c['flight_sql']['rows_per_second']:,} "
                     f"| {c['duckdb']['rows_per_second']:,} | {c['ratio']:.2f} | {goal} |")
    return "\n".join(lines) + f"\n\nMedian of {r['config']['runs']}; 15 s steps, one L0 file per 2 h of data.\n"
