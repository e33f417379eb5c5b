"""DuckDB over the bucket: a connection with the SQL contract's `samples` and `series` views
for one tenant (`tsdb.analytics.contract`), built from the tenant's manifest.

A convenience for people who already hold the bucket's credentials, **not a security
boundary**: the views read only the tenant's files, but the connection can read anything
its credentials reach. Arrow Flight SQL is the tenant-safe surface. The views see what is
flushed (the manifest when the connection was opened): samples still in an ingester's head
are not in the bucket yet (Flight SQL's `samples` has them), and a connection kept open
longer than the compactor's `deletion_delay` may find files it lists deleted: reconnect.

Storage: local paths for the filesystem backend; for S3, the manifest's objects through
obstore's fsspec adapter registered in DuckDB (`tsdb.analytics.s3`, which makes its reads
safe from DuckDB's threads), which works offline (`INSTALL httpfs` needs the internet;
DESIGN §9). The other offline route, PyPI's repackaged httpfs extension, exists
only for DuckDB 1.5.x, and the project runs DuckDB 2. The views read exact file lists, so no
glob is ever expanded (the adapter's glob is what breaks on `**`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import duckdb

from tsdb.analytics.contract import FileSets, file_sets, label_columns, not_stale, sql_ident, sql_literal
from tsdb.config import Config, load_config
from tsdb.layout.columns import LABELS, METRIC, SERIES_ID, TIMESTAMP, VALUE, label_from_column_name
from tsdb.manifest import FileEntry, ManifestStore
from tsdb.storage.bucket import open_bucket
from tsdb.storage.config import StorageConfig
from tsdb.tenancy import Tenant

# Computed per stored row, before the duplicate rule: DuckDB's `arg_max` over a struct (its
# plan for `row_number() = 1`) returns every NaN as the plain one, so the marker's bits are
# gone after it.
_STALE = f"CASE WHEN isnan({VALUE}) THEN NOT _not_stale({VALUE}) ELSE false END AS _stale"
EMPTY_SAMPLES = (f"SELECT NULL::VARCHAR AS {METRIC}, NULL::MAP(VARCHAR, VARCHAR) AS {LABELS}, "
                 f"NULL::UBIGINT AS {SERIES_ID}, NULL::TIMESTAMPTZ AS \"{TIMESTAMP}\", NULL::DOUBLE AS {VALUE} "
                 "WHERE false")


def duckdb_connect(tenant: str | Tenant, config: str | Path | Config | None = None,
                   data_dir: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with `samples` and `series` views of `tenant`'s data, configured
    as `mytsdb all --config CONFIG --data-dir DATA_DIR` would be."""
    cfg = config if isinstance(config, Config) else load_config(
        str(config) if config else None, {"data_dir": str(data_dir)} if data_dir else {})
    tenant = tenant if isinstance(tenant, Tenant) else Tenant.parse(tenant)
    manifest = ManifestStore(open_bucket(cfg.storage)).load(tenant)
    con = duckdb.connect()
    locate = attach_storage(con, cfg.storage)
    con.create_function("_not_stale", not_stale, ["DOUBLE"], "BOOLEAN", type="arrow")
    create_views(con, file_sets(manifest), locate)
    return con


def attach_storage(con: duckdb.DuckDBPyConnection, storage: StorageConfig) -> Callable[[str], str]:
    """Make the bucket readable from `con`; returns key → what `read_parquet` takes."""
    if storage.backend == "filesystem":
        root = Path(storage.filesystem.directory).expanduser().resolve()
        return lambda key: str(root / key)
    if storage.backend == "s3":
        from tsdb.analytics.s3 import s3_filesystem

        s3 = storage.s3
        con.register_filesystem(s3_filesystem(s3))
        prefix = s3.prefix.strip("/")
        return lambda key: f"s3://{s3.bucket}/{prefix + '/' if prefix else ''}{key}"
    raise NotImplementedError(f"the duckdb helper reads the filesystem and s3 backends, not {storage.backend!r}")


def create_views(con: duckdb.DuckDBPyConnection, sets: FileSets, locate: Callable[[str], str]) -> None:
    """`samples` (stale markers dropped, after the duplicate rule so a newer marker still
    wins) and `series` (rows as stored, stale markers counted, as in the sidecars)."""
    parts = [_samples_sql(con, sets.alone, locate, dedup=False), _samples_sql(con, sets.overlapping, locate, dedup=True)]
    parts = [p for p in parts if p is not None]
    columns = sorted({c for p in parts for c in p[1]})
    selects = [_select(sql, have, partial, columns) for sql, have, partial in parts]
    samples = [f"SELECT * EXCLUDE (_stale) FROM ({s}) WHERE NOT _stale" for s in selects] or [EMPTY_SAMPLES]
    con.execute("CREATE VIEW samples AS " + " UNION ALL ".join(samples))
    con.execute("CREATE VIEW series AS " + _series_sql(sets.alone, selects[-1] if sets.overlapping else None, locate))


def _files(entries: tuple[FileEntry, ...], locate: Callable[[str], str], sidecar: bool = False) -> str:
    return "[" + ", ".join(sql_literal(locate(e.series_path if sidecar else e.path)) for e in entries) + "]"


def _samples_sql(con: duckdb.DuckDBPyConnection, entries: tuple[FileEntry, ...], locate: Callable[[str], str],
                 dedup: bool) -> tuple[str, list[str], set[str]] | None:
    """(SQL of a file set's samples, its label columns, those some of its files lack), or
    None for an empty set."""
    if not entries:
        return None
    files = _files(entries, locate)
    scan = f"read_parquet({files}, union_by_name = true{', filename = true' if dedup else ''})"
    in_files = _top_level_counts(con.execute(
        f"SELECT file_name, name, coalesce(num_children, 0) FROM parquet_schema({files}) "
        "ORDER BY file_name, column_id").fetchall())
    labels = label_columns(list(in_files))
    partial = {c for c in labels if in_files[c] < len(entries)}
    if not dedup:
        return f"SELECT *, {_STALE} FROM {scan}", labels, partial
    # DESIGN §3: one row per (series, timestamp); where copies differ the highest write sequence wins.
    seqs = ", ".join(f"({sql_literal(locate(e.path))}, {e.seq})" for e in entries)
    return (f"SELECT * EXCLUDE (filename, _seq), {_STALE} FROM {scan} JOIN (VALUES {seqs}) AS _f(filename, _seq) "
            "USING (filename) "
            f"QUALIFY row_number() OVER (PARTITION BY {SERIES_ID}, \"{TIMESTAMP}\" ORDER BY _seq DESC) = 1"), labels, partial


def _top_level_counts(rows: list[tuple[str, str, int]]) -> dict[str, int]:
    """How many files have each top-level column, from `parquet_schema`'s rows (the schema
    tree depth first, each node with its number of children): the map's `key` and `value`
    are not columns of the file."""
    counts: dict[str, int] = {}
    pending: list[int] = []  # children still to come, per open node; the root's first
    file = None
    for file_name, name, children in rows:
        if file_name != file:
            file, pending = file_name, [children]  # the root
            continue
        if len(pending) == 1:
            counts[name] = counts.get(name, 0) + 1
        pending[-1] -= 1
        if children:
            pending.append(children)
        while len(pending) > 1 and pending[-1] == 0:
            pending.pop()
    return counts


def _select(sql: str, have: list[str], partial: set[str], columns: list[str]) -> str:
    """The contract's column order. A label column that some files promoted and others did
    not (each file promotes its own most common labels) is read from `labels` where the
    file lacks it; NULL for columns no file of this set has and for series without the label."""
    def label(c: str) -> str:
        from_map = f"map_extract_value({LABELS}, {sql_literal(label_from_column_name(c) or c)})"
        if c not in have:
            return f"{from_map}::VARCHAR AS {sql_ident(c)}"
        return f"coalesce({sql_ident(c)}, {from_map}) AS {sql_ident(c)}" if c in partial else sql_ident(c)
    cols = [METRIC, *map(label, columns), LABELS, SERIES_ID, f'"{TIMESTAMP}"', VALUE, "_stale"]
    return f"SELECT {', '.join(cols)} FROM ({sql})"


def _series_sql(alone: tuple[FileEntry, ...], overlapping: str | None, locate: Callable[[str], str]) -> str:
    """Per series, from the sidecars of files read as they are, and counted from the
    deduplicated samples of overlapping files (a sidecar would count every copy)."""
    parts = []
    if alone:
        parts.append(f"SELECT {SERIES_ID}, {METRIC}, {LABELS}, min_time, max_time, samples "
                     f"FROM read_parquet({_files(alone, locate, sidecar=True)})")
    if overlapping is not None:
        parts.append(f"SELECT {SERIES_ID}, any_value({METRIC}) AS {METRIC}, any_value({LABELS}) AS {LABELS}, "
                     f"min(\"{TIMESTAMP}\") AS min_time, max(\"{TIMESTAMP}\") AS max_time, count(*) AS samples "
                     f"FROM ({overlapping}) GROUP BY {SERIES_ID}")
    if not parts:
        return (f"SELECT NULL::UBIGINT AS {SERIES_ID}, NULL::VARCHAR AS {METRIC}, NULL::MAP(VARCHAR, VARCHAR) AS "
                f"{LABELS}, NULL::TIMESTAMPTZ AS min_time, NULL::TIMESTAMPTZ AS max_time, NULL::BIGINT AS samples "
                "WHERE false")
    union = " UNION ALL ".join(parts)
    return (f"SELECT {SERIES_ID}, any_value({METRIC}) AS {METRIC}, any_value({LABELS}) AS {LABELS}, "
            f"min(min_time) AS min_time, max(max_time) AS max_time, sum(samples)::BIGINT AS samples "
            f"FROM ({union}) GROUP BY {SERIES_ID}")
