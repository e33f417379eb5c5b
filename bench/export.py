"""pandas export throughput: `tsdb.client.Client.export(...).to_pandas()` over HTTP (Arrow
stream and Parquet) and over the Flight port, against `pq.read_table(files).to_pandas()` on
the same Parquet files (what a reader with the bucket in hand gets, and the practical limit).

Data: the node-exporter-like set (`bench.compaction.node_feed`), `series` x `steps` at 15 s
(14.4M rows by default, `--quick` 1.9M) in one UTC day three days ago, loaded into `mytsdb
all` by remote write with a flush per 2 h of data (L0 files that do not overlap). Every case
makes a frame of the same rows and columns (`metric`, one column per label, `timestamp`,
`value`; labels as categoricals), `runs` times after one warm-up, median; the frame is the
whole tenant, so the server reads every file just as `read_table` does.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from bench.analytics_data import STEP_MS, TENANT, loaded, median_run

MATCH = '{__name__=~".+"}'
CASES = (("http_arrow", "`/api/v1/export?format=arrow`"), ("http_parquet", "`/api/v1/export?format=parquet`"),
         ("flight", "the Flight port"))


@dataclass(frozen=True)
class ExportBenchConfig:
    series: int = 10_000
    steps: int = 1_440  # 6 h at 15 s: 14.4M rows with 10,000 series
    runs: int = 3
    concurrency: int = 4

    @classmethod
    def quick(cls, **kw) -> "ExportBenchConfig":
        return cls(series=2_000, steps=960, runs=2, **kw)


def run(cfg: ExportBenchConfig) -> dict:
    import pyarrow.parquet as pq

    from tsdb.client import Client

    rows = cfg.series * cfg.steps
    out: dict = {"config": {**asdict(cfg), "rows": rows}}
    with loaded("export", cfg.series, cfg.steps, cfg.concurrency) as data:
        out["load"] = data.load[0]
        files, start = data.files, data.start_ms
        end = start + cfg.steps * STEP_MS
        out["files"] = len(files)
        out["parquet_bytes"] = sum(e.bytes for e in data.entries)
        # The tidy frame's columns: everything but the label map and the series ID.
        columns = sorted({n for f in files for n in pq.read_schema(f).names} - {"labels", "series_id"})

        http = Client(data.target.url, tenant=TENANT)
        flight = Client(data.target.url, tenant=TENANT, flight_url=f"grpc+tcp://127.0.0.1:{data.flight_port}")
        work = {
            "http_arrow": lambda: len(http.export(MATCH, start / 1000, end / 1000).to_pandas()),
            "http_parquet": lambda: len(http.export(MATCH, start / 1000, end / 1000, format="parquet").to_pandas()),
            "flight": lambda: len(flight.export(MATCH, start / 1000, end / 1000).to_pandas()),
            "read_table": lambda: len(pq.read_table(files, columns=columns).to_pandas()),
        }
        for name, job in work.items():
            got = job()  # warm-up: the server's footer cache, the page cache, imports
            if got != rows:
                raise RuntimeError(f"{name} made a frame of {got:,} rows, not {rows:,}")
            out[name] = median_run(f"{name:<12}", cfg.runs, job)
    for name, _ in CASES:
        out[f"{name}_vs_read_table"] = round(out[name]["rows_per_second"] / out["read_table"]["rows_per_second"], 3)
    print("[export] / read_table: " + ", ".join(f"{n} {out[n + '_vs_read_table']:.2f}" for n, _ in CASES), flush=True)
    return out


def markdown(r: dict) -> str:
    c, rt = r["config"], r["read_table"]
    lines = ["| pandas export | MyTSDB, rows/s | `pq.read_table(files).to_pandas()`, rows/s | MyTSDB / read_table |",
             "|---|---:|---:|---:|"]
    for key, how in CASES:
        e = r[key]
        lines.append(f"| `Client.export(...).to_pandas()` over {how} ({e['seconds']:.2f} s) | {e['rows_per_second']:,} "
                     f"| {rt['rows_per_second']:,} ({rt['seconds']:.2f} s) | {r[key + '_vs_read_table']:.2f} |")
    lines.append("")
    lines.append(f"Data: {c['series']:,} series × {c['steps']:,} steps at 15 s ({c['rows'] / 1e6:g}M rows) in "
                 f"{r['files']} non-overlapping L0 files ({r['parquet_bytes'] / 1e6:.0f} MB); the whole tenant "
                 f"exported; each frame has the same rows and columns; median of {c['runs']} after a warm-up.")
    return "\n".join(lines) + "\n"
