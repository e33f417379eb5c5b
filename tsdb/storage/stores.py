"""Build the obstore store that a Bucket wraps, from a StorageConfig."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from obstore.store import AzureStore, GCSStore, LocalStore, MemoryStore, S3Store

from .config import AzureConfig, GCSConfig, S3Config, StorageConfig
from .paths import normalize_root

if TYPE_CHECKING:
    from obstore.store import ObjectStore


def make_store(cfg: StorageConfig) -> ObjectStore:
    """Return a new obstore store for `cfg.backend`.

    The filesystem directory must already be absolute (open_bucket resolves it).
    """
    match cfg.backend:
        case "filesystem":
            # automatic_cleanup removes emptied directories, so list_dirs on disk
            # matches object stores, where a "directory" vanishes with its last object.
            return LocalStore(cfg.filesystem.directory, mkdir=True, automatic_cleanup=True)
        case "memory":
            return MemoryStore()
        case "s3":
            return _s3(cfg.s3)
        case "gcs":
            return _gcs(cfg.gcs)
        case "azure":
            return _azure(cfg.azure)
    raise ValueError(f"unknown storage backend {cfg.backend!r}")


def _require(value: str, name: str) -> str:
    if not value:
        raise ValueError(f"storage setting {name} is required")
    return value


def s3_client_options(c: S3Config) -> dict[str, Any]:
    """`config`, `credential_provider` and `client_options` for obstore's S3 clients: the
    bucket's store and the fsspec adapter the DuckDB helper registers."""
    config: dict[str, Any] = {}
    if c.region:
        config["region"] = c.region
    if c.endpoint:
        config["endpoint"] = c.endpoint
    if c.force_path_style:
        config["virtual_hosted_style_request"] = False
    kwargs: dict[str, Any] = {"config": config}
    if c.access_key_id or c.secret_access_key:
        # A callback instead of config keys: obstore would otherwise merge a stray
        # AWS_SESSION_TOKEN from the environment with our explicit key pair.
        credential = {
            "access_key_id": _require(c.access_key_id, "s3.access_key_id"),
            "secret_access_key": _require(c.secret_access_key, "s3.secret_access_key"),
            "token": c.session_token or None,
            "expires_at": None,
        }
        kwargs["credential_provider"] = lambda: credential
    if c.allow_http:
        kwargs["client_options"] = {"allow_http": True}
    return kwargs


def _s3(c: S3Config) -> S3Store:
    return S3Store(_require(c.bucket, "s3.bucket"), prefix=normalize_root(c.prefix) or None, **s3_client_options(c))


def _gcs(c: GCSConfig) -> GCSStore:
    config = {"service_account": c.service_account_path} if c.service_account_path else {}
    return GCSStore(_require(c.bucket, "gcs.bucket"), prefix=normalize_root(c.prefix) or None, config=config)


def _azure(c: AzureConfig) -> AzureStore:
    config: dict[str, Any] = {}
    if c.account_name:
        config["account_name"] = c.account_name
    if c.account_key:
        config["account_key"] = c.account_key
    if c.endpoint:
        config["endpoint"] = c.endpoint
    if c.use_emulator:
        config["use_emulator"] = True
    plain_http = c.use_emulator or c.endpoint.startswith("http://")
    return AzureStore(
        _require(c.container, "azure.container"),
        prefix=normalize_root(c.prefix) or None,
        config=config,
        client_options={"allow_http": True} if plain_http else None,
    )
