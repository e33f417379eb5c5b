"""Every object key in the bucket is built here, and only here, from a validated Tenant.

    <tenant>/data/<YYYY-MM-DD>/<name>.parquet       samples (long format)
    <tenant>/series/<YYYY-MM-DD>/<name>.parquet     series sidecar of the file of the same name
    <tenant>/manifest/<version:020d>.json           manifest versions (create-only)
    <tenant>/deletion-marks/<name>.json             a replaced file, deleted after `deletion_delay`
    <tenant>/downsampled/<5m|1h>/data/<YYYY-MM-DD>/<name>.parquet    downsampled (own prefix
    <tenant>/downsampled/<5m|1h>/series/<YYYY-MM-DD>/<name>.parquet   per resolution)

Day directories are plain segments, not `key=value`, so DuckDB's and DataFusion's hive
partitioning never turns them into columns that could collide with labels. Internal
objects live under `~mytsdb/`, which is not a valid tenant ID. Prefixes always end in
`/`, so listing tenant `a` never returns `ab/`.
"""
from __future__ import annotations

import datetime as dt
import os
import time

from tsdb.tenancy import Tenant

INTERNAL_PREFIX = "~mytsdb/"
_MS_PER_DAY = 86_400_000


def tenant_prefix(tenant: Tenant) -> str:
    return f"{tenant.id}/"


def data_prefix(tenant: Tenant) -> str:
    return f"{tenant.id}/data/"


def series_prefix(tenant: Tenant) -> str:
    return f"{tenant.id}/series/"


def manifest_prefix(tenant: Tenant) -> str:
    return f"{tenant.id}/manifest/"


def deletion_marks_prefix(tenant: Tenant) -> str:
    return f"{tenant.id}/deletion-marks/"


RESOLUTIONS = {300_000: "5m", 3_600_000: "1h"}  # downsampled resolutions (ms) and their path names


def downsampled_prefix(tenant: Tenant, resolution: int) -> str:
    return f"{tenant.id}/downsampled/{RESOLUTIONS[resolution]}/"


def data_prefixes(tenant: Tenant) -> list[tuple[str, str]]:
    """Every (data, sidecar) prefix pair of `tenant`: raw, then each downsampled resolution."""
    return [(data_prefix(tenant), series_prefix(tenant))] + [
        (downsampled_prefix(tenant, r) + "data/", downsampled_prefix(tenant, r) + "series/") for r in RESOLUTIONS]


def deletion_mark_path(tenant: Tenant, data_path: str) -> str:
    """The mark of a data file of `tenant` (its sidecar goes with it)."""
    if not any(data_path.startswith(d) for d, _ in data_prefixes(tenant)):
        raise ValueError(f"{data_path} is not a data file of tenant {tenant.id}")
    return f"{tenant.id}/deletion-marks/{data_path.rsplit('/', 1)[1].removesuffix('.parquet')}.json"


def manifest_path(tenant: Tenant, version: int) -> str:
    return f"{tenant.id}/manifest/{version:020d}.json"


def day_of(ts_ms: int) -> str:
    """The UTC day (`YYYY-MM-DD`) a millisecond timestamp falls in."""
    return dt.datetime.fromtimestamp(ts_ms // _MS_PER_DAY * 86_400, dt.timezone.utc).strftime("%Y-%m-%d")


def day_start_ms(day: str) -> int:
    d = dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
    return int(d.timestamp()) * 1000


def new_file_name(level: int) -> str:
    """A unique, time-ordered file name: level, creation time, and random bits."""
    return f"L{level}-{time.time_ns():020d}-{os.urandom(6).hex()}"


def file_created_ns(path: str) -> int | None:
    """The creation time a `new_file_name` carries, or None for another name."""
    name = path.rsplit("/", 1)[-1].split(".", 1)[0]
    parts = name.split("-")
    if len(parts) == 3 and parts[1].isdigit():
        return int(parts[1])
    return None


def data_file_path(tenant: Tenant, day: str, name: str) -> str:
    return f"{tenant.id}/data/{day}/{name}.parquet"


def series_file_path(tenant: Tenant, day: str, name: str) -> str:
    return f"{tenant.id}/series/{day}/{name}.parquet"


def downsampled_file_paths(tenant: Tenant, resolution: int, day: str, name: str) -> tuple[str, str]:
    """(data, sidecar) keys of a downsampled file."""
    base = downsampled_prefix(tenant, resolution)
    return f"{base}data/{day}/{name}.parquet", f"{base}series/{day}/{name}.parquet"
