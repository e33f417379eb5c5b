"""The YAML configuration: typed dataclasses, strict loading, per-tenant limits.

Loading is strict on purpose: an unknown key or an invalid value stops start-up with a
message that names the key, because a typo that silently falls back to a default is
the kind of fault an operator finds only in an incident.

Each field carries its documentation in `metadata["doc"]`; `iter_documented_keys`
walks them so the README table and its test come from the same source.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import yaml

from tsdb.storage.config import StorageConfig
from tsdb.tenancy import Tenant, TenantError
from tsdb.units import format_duration_ms, parse_bytes, parse_duration_ms


class ConfigError(ValueError):
    """A configuration fault; the message names the offending key."""


def _opt(default: Any, doc: str, kind: str = "", choices: tuple[str, ...] = ()) -> Any:
    meta = {"doc": doc, "kind": kind, "choices": choices}
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=meta)
    return field(default=default, metadata=meta)


def _section(factory: type, doc: str) -> Any:
    return field(default_factory=factory, metadata={"doc": doc, "kind": "section", "choices": ()})


@dataclass(frozen=True)
class ServerConfig:
    listen_address: str = _opt("127.0.0.1", "Address every listener binds to.")
    http_port: int = _opt(9009, "HTTP port: remote write, Prometheus API, /metrics (`--http-port`).")
    grpc_port: int = _opt(9095, "gRPC port for internal RPC (`--grpc-port`).")
    flight_port: int = _opt(8815, "Arrow Flight port (`--flight-port`).")
    flight_sql_tokens: dict[str, str] = _opt(
        {}, "Bearer tokens of Flight SQL clients, each mapped to its tenant: `{<token>: <tenant>}`. When set, Flight "
        "SQL takes the tenant only from `authorization: Bearer <token>`; when empty, from `x-scope-orgid`.", "tokens")


@dataclass(frozen=True)
class DistributorConfig:
    max_recv_msg_size: int = _opt(
        100 * 1024 * 1024,
        "Largest accepted remote-write body, compressed and decompressed (bytes); larger gets 413.",
        "bytes",
    )
    remote_timeout: int = _opt(
        2_000, "How long the distributor waits for ingesters to answer a push (Mimir's default).", "duration")
    ha_tracker_enabled: bool = _opt(
        False, "Deduplicate HA Prometheus pairs on `limits.ha_cluster_label` / `limits.ha_replica_label`, for tenants "
        "with `limits.accept_ha_samples`; elections live in the ring's KV store.")
    ha_tracker_update_timeout: int = _opt(
        15_000, "Refresh the elected replica's timestamp in the KV store at most this often.", "duration")
    ha_tracker_failover_timeout: int = _opt(
        30_000, "Fail over to another replica once the elected one has sent nothing for this long.", "duration")


@dataclass(frozen=True)
class IngesterConfig:
    wal_dir: str = _opt("", "WAL directory. Empty: `<data_dir>/wal`.")
    wal_fsync: str = _opt(
        "always",
        "`always`: a push is acknowledged only after its WAL record is fsynced (group commit). "
        "`interval`: fsync every `wal_fsync_interval`; a crash may lose acknowledged pushes of that interval. "
        "`never`: leave it to the OS.",
        "choice",
        ("always", "interval", "never"),
    )
    wal_fsync_interval: int = _opt(1000, "fsync period when `wal_fsync: interval`.", "duration")
    wal_segment_size: int = _opt(128 * 1024 * 1024, "WAL segment file size before rotation (bytes).", "bytes")
    flush_interval: int = _opt(
        2 * 3600 * 1000, "Flush the head to Parquet when its oldest unflushed push is this old.", "duration"
    )
    max_head_samples: int = _opt(20_000_000, "Flush a tenant's head when it holds this many samples.")
    flush_check_period: int = _opt(10_000, "How often the flush conditions are checked.", "duration")
    flush_retry_min_backoff: int = _opt(1000, "First retry delay after a failed flush upload.", "duration")
    flush_retry_max_backoff: int = _opt(60_000, "Largest retry delay after failed flush uploads.", "duration")
    row_group_rows: int = _opt(128 * 1024, "Rows per Parquet row group in flushed (L0) files.")
    zstd_level: int = _opt(3, "zstd level of flushed Parquet files.")
    max_promoted_labels: int = _opt(
        64, "Label columns per file; the long tail of label names lives only in the `labels` map column."
    )


@dataclass(frozen=True)
class QuerierConfig:
    """Query execution bounds, with Mimir's names and defaults."""

    timeout: int = _opt(
        120_000,
        "Longest a PromQL query may run; a request's `timeout` parameter can only shorten it. Over it: 503 `timeout`.",
        "duration",
    )
    max_samples: int = _opt(
        50_000_000,
        "Most samples one query may hold in memory at once; over it: 422 `execution`.",
    )
    query_ingesters_within: int = _opt(
        13 * 3_600_000,
        "Queries reach ingesters only for the part of their range newer than this (distributed mode); ingesters "
        "keep their own flushed files queryable for as long.",
        "duration",
    )


@dataclass(frozen=True)
class PromQLConfig:
    compat: str = _opt(
        "v3",
        "PromQL semantics: `v3` follows Prometheus 3 (left-open range windows), `v2` Prometheus 2.",
        "choice",
        ("v3", "v2"),
    )
    lookback_delta: int = _opt(
        300_000,
        "How far back an instant selector looks for a sample; a request's `lookback_delta` parameter overrides it.",
        "duration",
    )


@dataclass(frozen=True)
class RingConfig:
    """The hash rings (ingesters, store gateways, compactors, distributors), with Mimir's defaults."""

    kvstore: str = _opt(
        "memory", "Where ring state lives: `memory` (one process, `all` mode) or `etcd` (distributed mode).",
        "choice", ("memory", "etcd"))
    etcd_endpoints: str = _opt("127.0.0.1:2379", "Comma-separated etcd client endpoints (`host:port`).")
    etcd_dial_timeout: int = _opt(2_000, "Timeout of each etcd request.", "duration")
    prefix: str = _opt("mytsdb/", "Key prefix of ring state in the KV store.")
    heartbeat_period: int = _opt(15_000, "How often an instance refreshes its heartbeat.", "duration")
    heartbeat_timeout: int = _opt(60_000, "An instance without a heartbeat for this long is unhealthy.", "duration")
    poll_period: int = _opt(1_000, "How often a process re-reads the rings from the KV store.", "duration")
    num_tokens: int = _opt(128, "Tokens per instance.")
    replication_factor: int = _opt(3, "Ingesters that receive each series; writes succeed at a quorum (RF/2+1).")
    instance_addr: str = _opt("", "Address other processes use to reach this one. Empty: `server.listen_address`.")


@dataclass(frozen=True)
class StoreGatewayConfig:
    replication_factor: int = _opt(
        2, "Store gateways that own each Parquet file; the querier fails over between them.")
    cache_dir: str = _opt("", "Local disk cache of Parquet byte ranges. Empty: `<data_dir>/store-gateway-cache`.")
    cache_max_bytes: int = _opt(1024 ** 3, "Bound of the disk cache (bytes); least recently used ranges go first.",
                                "bytes")
    manifest_refresh: int = _opt(
        10_000, "How long a tenant's manifest is reused before it is re-read (an unknown file forces a re-read).",
        "duration")


@dataclass(frozen=True)
class CompactorConfig:
    compaction_interval: int = _opt(3_600_000, "Time between compaction passes (Mimir's default).", "duration")
    block_range: int = _opt(
        7_200_000, "L1 block length: L0 files are merged into one deduplicated file per block of this length.",
        "duration")
    day_close_delay: int = _opt(
        7_200_000, "How long after a UTC day ends its files are merged into L2 (one file per tenant-day); "
        "samples arriving later for that day are merged in by the next pass.", "duration")
    max_file_size: int = _opt(512 * 1024 ** 2, "L2 output is split into files of at most about this size.", "bytes")
    row_group_rows: int = _opt(
        1024 ** 2, "Rows per row group of L2 files (1–4 Mi for large data); L1 files keep `ingester.row_group_rows`.")
    merge_batch_samples: int = _opt(
        1024 ** 2, "Samples merged in memory at once: the bound on a compaction's memory, whatever the day's size "
        "(4 Mi took 1.6x the memory of 1 Mi, and was no faster: bench/compaction.py).")
    deletion_delay: int = _opt(
        43_200_000, "How long a replaced file stays readable after its deletion mark (Mimir's 12h); at least twice "
        "the query timeout plus `store_gateway.manifest_refresh`.", "duration")
    zstd_level: int = _opt(6, "zstd level of compacted files (flushes use 3).")
    downsampling_enabled: bool = _opt(True, "Write 5m and 1h downsampled copies of old days (Thanos' rule).")
    downsample_5m_after: int = _opt(
        144_000_000, "A day is downsampled to 5m once it ended this long ago (Thanos: 40h).", "duration")
    downsample_1h_after: int = _opt(
        864_000_000, "A day is downsampled to 1h (from its 5m copy) once it ended this long ago (Thanos: 10d).",
        "duration")
    data_dir: str = _opt("", "Scratch space for files being written. Empty: `<data_dir>/compactor`.")


@dataclass(frozen=True)
class Limits:
    """Per-tenant limits, with Mimir's names and defaults."""

    ingestion_rate: float = _opt(10000.0, "Samples per second per tenant (token bucket refill rate); over it: 429.")
    ingestion_burst_size: int = _opt(200000, "Token bucket size in samples.")
    max_label_names_per_series: int = _opt(30, "Most labels a series may have, `__name__` included.")
    max_label_name_length: int = _opt(1024, "Longest label name, in bytes.")
    max_label_value_length: int = _opt(2048, "Longest label value, in bytes.")
    creation_grace_period: int = _opt(600_000, "How far in the future a sample may be.", "duration")
    out_of_order_time_window: int = _opt(
        0,
        "How far behind a tenant's newest sample a sample may be. 0: Prometheus' rule (in-order per series, "
        "at most 1h behind the newest sample). `100y` accepts any history (backfill).",
        "duration",
    )
    max_fetched_series_per_query: int = _opt(
        0,
        "Most series one query may fetch from storage; over it the query fails with 422. 0: unlimited.",
    )
    max_total_query_length: int = _opt(
        0,
        "Longest time range (`end - start`) of a range query; longer ones fail with 400 before any data is read. "
        "0: unlimited.",
        "duration",
    )
    compactor_blocks_retention_period: int = _opt(
        0, "Keep this much history: the compactor removes whole days older than it (Mimir's name). 0: forever.",
        "duration")
    retention_period_5m: int = _opt(
        0, "Keep this much 5m-downsampled history; older days are removed. 0: forever.", "duration")
    retention_period_1h: int = _opt(
        0, "Keep this much 1h-downsampled history; older days are removed. 0: forever.", "duration")
    accept_ha_samples: bool = _opt(
        False, "With `distributor.ha_tracker_enabled`: keep only the elected replica's samples of each HA cluster "
        "(the other replica's pushes get 202 and are dropped).")
    ha_cluster_label: str = _opt("cluster", "Label naming an HA Prometheus pair.")
    ha_replica_label: str = _opt("__replica__", "Label naming the replica within the pair; dropped before storage.")


@dataclass(frozen=True)
class Config:
    data_dir: str = _opt("./data", "Root of local state: the bucket (filesystem backend) and the WAL (`--data-dir`).")
    multitenancy_enabled: bool = _opt(False, "Require `X-Scope-OrgID`; without it requests get 401.")
    server: ServerConfig = _section(ServerConfig, "Listeners.")
    storage: StorageConfig = _section(StorageConfig, "Object storage.")
    distributor: DistributorConfig = _section(DistributorConfig, "Write-path request handling.")
    ingester: IngesterConfig = _section(IngesterConfig, "WAL, head and flush.")
    querier: QuerierConfig = _section(QuerierConfig, "PromQL query execution.")
    store_gateway: StoreGatewayConfig = _section(StoreGatewayConfig, "Store gateways (distributed mode).")
    compactor: CompactorConfig = _section(CompactorConfig, "Compaction, retention and downsampling.")
    ring: RingConfig = _section(RingConfig, "Hash rings and their KV store.")
    promql: PromQLConfig = _section(PromQLConfig, "PromQL semantics.")
    limits: Limits = _section(Limits, "Default per-tenant limits.")
    overrides: dict[str, dict[str, Any]] = _opt({}, "Per-tenant limits: `{<tenant>: {<limit>: value}}`.", "overrides")

    @property
    def wal_dir(self) -> Path:
        return Path(self.ingester.wal_dir or Path(self.data_dir) / "wal")

    @property
    def compactor_dir(self) -> Path:
        return Path(self.compactor.data_dir or Path(self.data_dir) / "compactor")

    @property
    def store_gateway_cache_dir(self) -> Path:
        return Path(self.store_gateway.cache_dir or Path(self.data_dir) / "store-gateway-cache")

    def limits_for(self, tenant: Tenant) -> Limits:
        """The tenant's limits: the defaults with its overrides applied."""
        override = self.overrides.get(tenant.id)
        return replace(self.limits, **override) if override else self.limits


# ---------------------------------------------------------------------------------------
# Loading


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Load a YAML file (or the defaults) and apply dotted-key overrides from flags."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise ConfigError(f"config: cannot read {path}: {e.strerror}") from e
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"config: {path} is not valid YAML: {e}") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config: {path} must hold a mapping at the top level")
        raw = loaded or {}
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return config_from_dict(raw)


def config_from_dict(raw: dict[str, Any]) -> Config:
    cfg = _build(Config, raw, "")
    storage_raw = raw.get("storage") or {}
    fs_raw = storage_raw.get("filesystem") or {} if isinstance(storage_raw, dict) else {}
    if "directory" not in fs_raw:
        cfg = replace(
            cfg,
            storage=replace(cfg.storage, filesystem=replace(cfg.storage.filesystem, directory=str(Path(cfg.data_dir) / "bucket"))),
        )
    return cfg


def _build(cls: type, data: Any, path: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config: {path.rstrip('.') or 'top level'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            where = f" in '{path.rstrip('.')}'" if path else ""
            raise ConfigError(f"config: unknown key '{path}{key}'{where}; known keys: {', '.join(known)}")
    kwargs = {name: _coerce(known[name], hints[name], value, f"{path}{name}") for name, value in data.items()}
    try:
        obj = cls(**kwargs)
    except ValueError as e:  # a section's own validation (e.g. StorageConfig's backend)
        raise ConfigError(f"config: invalid value in '{path.rstrip('.')}': {e}") from e
    _check(obj, path)
    return obj


def _coerce(f: dataclasses.Field, hint: Any, value: Any, key: str) -> Any:
    kind = f.metadata.get("kind", "")
    try:
        if kind == "section" or is_dataclass(hint):
            return _build(hint, value, key + ".")
        if kind == "duration":
            return parse_duration_ms(value)
        if kind == "bytes":
            return parse_bytes(value)
        if kind == "overrides":
            return _coerce_overrides(value, key)
        if kind == "tokens":
            if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                raise ValueError("expected a mapping of token strings to tenant IDs")
            for tenant in value.values():
                Tenant.parse(tenant)
            return dict(value)
        if kind == "choice":
            if value not in f.metadata["choices"]:
                raise ValueError(f"must be one of {', '.join(f.metadata['choices'])}, got {value!r}")
            return value
        return _coerce_scalar(hint, value)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(f"config: invalid value for '{key}': {e}") from e


def _coerce_scalar(hint: Any, value: Any) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint!r}")


def _coerce_overrides(value: Any, key: str) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping of tenant to limits, got {value!r}")
    out: dict[str, dict[str, Any]] = {}
    for tenant_id, limits in value.items():
        try:
            Tenant.parse(str(tenant_id))
        except TenantError as e:
            raise ConfigError(f"config: invalid tenant '{tenant_id}' in '{key}': {e}") from e
        parsed = _build(Limits, limits, f"{key}.{tenant_id}.")
        out[str(tenant_id)] = {k: getattr(parsed, k) for k in (limits or {})}
    return out


def _check(obj: Any, path: str) -> None:
    """Range checks that types alone cannot express."""
    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"config: invalid value for '{path}{key}': {why}")

    if isinstance(obj, ServerConfig):
        for port in ("http_port", "grpc_port", "flight_port"):
            if not 0 <= getattr(obj, port) <= 65535:
                raise bad(port, "must be between 0 and 65535")
    elif isinstance(obj, Limits):
        for name in ("ingestion_rate", "ingestion_burst_size", "max_label_names_per_series",
                     "max_label_name_length", "max_label_value_length"):
            if getattr(obj, name) <= 0:
                raise bad(name, "must be positive")
        if obj.max_fetched_series_per_query < 0:
            raise bad("max_fetched_series_per_query", "must not be negative (0: unlimited)")
    elif isinstance(obj, QuerierConfig):
        for name in ("timeout", "max_samples"):
            if getattr(obj, name) <= 0:
                raise bad(name, "must be positive")
    elif isinstance(obj, RingConfig):
        for name in ("heartbeat_period", "heartbeat_timeout", "poll_period", "num_tokens", "replication_factor",
                     "etcd_dial_timeout"):
            if getattr(obj, name) <= 0:
                raise bad(name, "must be positive")
    elif isinstance(obj, DistributorConfig):
        if obj.ha_tracker_failover_timeout <= obj.ha_tracker_update_timeout:
            raise bad("ha_tracker_failover_timeout", "must be longer than ha_tracker_update_timeout")
    elif isinstance(obj, StoreGatewayConfig):
        if obj.replication_factor <= 0:
            raise bad("replication_factor", "must be positive")
    elif isinstance(obj, PromQLConfig):
        if obj.lookback_delta <= 0:
            raise bad("lookback_delta", "must be positive")
    elif isinstance(obj, IngesterConfig):
        for name in ("max_head_samples", "row_group_rows", "max_promoted_labels", "flush_interval", "wal_segment_size"):
            if getattr(obj, name) <= 0:
                raise bad(name, "must be positive")
        if not 1 <= obj.zstd_level <= 22:
            raise bad("zstd_level", "must be between 1 and 22")
    elif isinstance(obj, StorageConfig):
        backends = ("filesystem", "memory", "s3", "gcs", "azure")
        if obj.backend not in backends:
            raise bad("backend", f"must be one of {', '.join(backends)}, got {obj.backend!r}")
        if obj.backend in ("s3", "gcs") and not getattr(obj, obj.backend).bucket:
            raise ConfigError(f"config: '{path}{obj.backend}.bucket' is required with backend {obj.backend}")
        if obj.backend == "azure" and not obj.azure.container:
            raise ConfigError(f"config: '{path}azure.container' is required with backend azure")


# ---------------------------------------------------------------------------------------
# Documentation


@dataclass(frozen=True)
class DocumentedKey:
    key: str
    default: str
    doc: str


def iter_documented_keys(cls: type = Config, prefix: str = "") -> Iterator[DocumentedKey]:
    """Every leaf key with its default and doc, for the README and its test."""
    defaults = cls()
    for f in fields(cls):
        key = f"{prefix}{f.name}"
        value = getattr(defaults, f.name)
        if is_dataclass(value):
            yield from iter_documented_keys(type(value), key + ".")
            continue
        kind = f.metadata.get("kind", "")
        if kind == "duration":
            shown = format_duration_ms(value)
        elif isinstance(value, bool):
            shown = str(value).lower()
        elif isinstance(value, str):
            shown = f'"{value}"'
        else:
            shown = str(value)
        yield DocumentedKey(key, shown, f.metadata.get("doc", ""))
