"""Running `mytsdb compact --once` for the benchmarks, and reading what it left in the bucket.

The compactor runs as its own process, as an operator runs it. Its peak RSS is the VmHWM the
process reads for itself at exit: the rusage of a child would also count, as its peak, the
RSS of the (large) bench process it was forked from. Repeated runs start from a copy of the
L0 bucket, so every run does the same work.
"""
from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from bench import targets
from bench.targets import wait_for_quiet

TENANT = "anonymous"
HOUR = 3_600_000
MB = 1e6


def mytsdb_config(series: int, step_ms: int = 15_000, compactor: dict | None = None) -> dict:
    """Bench limits and history accepted; the head flushes only when told to (the bench
    flushes per 2 h of data) and the server never compacts (the bench runs the compactor),
    with downsampling off, so the figures are compaction's alone."""
    return {"limits": {**targets.MYTSDB_LIMITS, "out_of_order_time_window": "100y"},
            "ingester": {"flush_interval": "1000h", "flush_check_period": "1s", "max_head_samples": series * 10**6},
            "compactor": {"compaction_interval": "1000h", "downsampling_enabled": False, **(compactor or {})}}


def write_config(path: Path, series: int, compactor: dict | None = None) -> Path:
    path.write_text(yaml.safe_dump(mytsdb_config(series, compactor=compactor)))
    return path


def manifest_files(config: Path, data_dir: Path) -> list:
    """The tenant's live files (manifest entries): what a reader sees."""
    from tsdb.config import load_config
    from tsdb.manifest import ManifestStore
    from tsdb.storage.bucket import open_bucket
    from tsdb.tenancy import Tenant

    cfg = load_config(config, {"data_dir": str(data_dir)})
    return list(ManifestStore(open_bucket(cfg.storage)).load(Tenant(TENANT)).files)


def stored(config: Path, data_dir: Path, columns: bool = False) -> dict:
    """Bytes of the live data files and, apart, of their sidecars; levels, rows, files."""
    files = manifest_files(config, data_dir)
    root = data_dir / "bucket"
    paths = [str(root / e.path) for e in files]
    out = {"files": len(files), "levels": sorted({e.level for e in files}), "rows": sum(e.rows for e in files),
           "data_bytes": sum(os.path.getsize(p) for p in paths),
           "sidecar_bytes": sum((root / e.series_path).stat().st_size for e in files),
           "row_groups": sum(pq.ParquetFile(p).metadata.num_row_groups for p in paths)}
    if columns:
        out["columns"] = column_bytes(paths)
    return out


def column_bytes(paths: list[str]) -> dict[str, int]:
    """Compressed bytes per Parquet column (dictionary pages included), then the footer, then
    what lies outside both (page index, bloom filters)."""
    cols: dict[str, int] = {}
    footer = rest = 0
    for p in paths:
        md = pq.ParquetFile(p).metadata
        inside = 0
        for i in range(md.num_row_groups):
            g = md.row_group(i)
            for j in range(g.num_columns):
                c = g.column(j)
                cols[c.path_in_schema] = cols.get(c.path_in_schema, 0) + c.total_compressed_size
                inside += c.total_compressed_size
        footer += md.serialized_size
        rest += os.path.getsize(p) - inside - md.serialized_size
    return {**dict(sorted(cols.items(), key=lambda kv: -kv[1])), "(footer)": footer,
            "(page index, bloom filters)": rest}


_WRAPPER = ("import atexit, sys\n"
            "from tsdb.cli import main\n"
            "status = sys.argv.pop(1)\n"
            "atexit.register(lambda: open(status, 'w').write(open('/proc/self/status').read()))\n"
            "sys.exit(main(sys.argv[1:]))\n")
_SUMMARY = re.compile(r"in ([\d.]+)s: (\d+) files / ([\d,]+) bytes in, (\d+) files / ([\d,]+) bytes out; "
                      r"([\d,]+) rows read, ([\d,]+) written")


def compact_once(config: Path, data_dir: Path) -> dict:
    """`mytsdb compact --once` (its console script's entry point) as a child process: its
    summary, wall time, CPU time and peak RSS."""
    work = data_dir.parent
    out_path, err_path, status_path = work / "compact.out", work / "compact.err", work / "compact.status"
    argv = [sys.executable, "-c", _WRAPPER, str(status_path), "compact", "--once", "--config", str(config),
            "--data-dir", str(data_dir)]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"mytsdb compact failed ({proc.returncode}): {err_path.read_text()[-1500:]}")
    hwm_kb = next(int(line.split()[1]) for line in status_path.read_text().splitlines() if line.startswith("VmHWM"))
    lines = out_path.read_text().strip().splitlines()
    res = {"wall_seconds": round(wall, 2), "cpu_seconds": round(ru.ru_utime + ru.ru_stime, 2),
           "peak_rss_mb": round(hwm_kb * 1024 / MB, 1), "summary": lines[-1] if lines else ""}
    m = _SUMMARY.search(res["summary"])
    if m:
        num = [int(float(x.replace(",", ""))) if i else float(x) for i, x in enumerate(m.groups())]
        res.update(zip(("pass_seconds", "files_in", "bytes_in", "files_out", "bytes_out", "rows_read",
                        "rows_written"), num))
        res["samples_per_second"] = round(res["rows_read"] / max(res["pass_seconds"], 1e-3))
    return res


class L0Copy:
    """A copy of a data dir's L0 bucket, restored before every compaction run but the first."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.saved = data_dir.parent / "bucket-l0"
        shutil.copytree(data_dir / "bucket", self.saved)
        self.fresh = True

    def restore(self) -> None:
        if self.fresh:
            self.fresh = False
            return
        shutil.rmtree(self.data_dir / "bucket")
        shutil.rmtree(self.data_dir / "compactor", ignore_errors=True)
        shutil.copytree(self.saved, self.data_dir / "bucket")

    def drop(self) -> None:
        shutil.rmtree(self.saved, ignore_errors=True)


def compaction_runs(config: Path, copy: L0Copy, runs: int, label: str) -> dict:
    """Compact the L0 bucket `runs` times; the median and range of each figure."""
    out = []
    for r in range(runs):
        copy.restore()
        busy = wait_for_quiet()
        res = compact_once(config, copy.data_dir)
        res["other_cpu_cores_before"] = round(busy, 2)
        print(f"  {label} {r + 1}/{runs}: {res.get('rows_read', 0):,} rows in {res.get('pass_seconds', 0)}s "
              f"({res.get('samples_per_second', 0):,} samples/s), {res['cpu_seconds']} CPU-s, "
              f"peak RSS {res['peak_rss_mb']:.0f} MB", flush=True)
        out.append(res)

    def med(key: str) -> float:
        return statistics.median(r[key] for r in out)

    def span(key: str) -> list:
        return [min(r[key] for r in out), max(r[key] for r in out)]

    return {"samples_per_second": round(med("samples_per_second")), "samples_per_second_range": span("samples_per_second"),
            "pass_seconds": med("pass_seconds"), "wall_seconds": med("wall_seconds"), "cpu_seconds": med("cpu_seconds"),
            "peak_rss_mb": med("peak_rss_mb"), "peak_rss_mb_range": span("peak_rss_mb"),
            "rows_read": out[0]["rows_read"], "rows_written": out[0]["rows_written"],
            "files_in": out[0]["files_in"], "files_out": out[0]["files_out"], "runs": out}
