"""Hand the bucket's location to engines that do their own I/O (DataFusion, pyarrow, DuckDB).

They cannot use our obstore store, so we rebuild the equivalent client from the
same config. Imports are local so plain bucket users don't pay for these engines.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import StorageConfig
from .paths import join, normalize_root

if TYPE_CHECKING:
    import pyarrow.fs


def object_url(cfg: StorageConfig, path: str = "") -> str:
    """URL of key or directory `path` (relative to the bucket's prefix), for DataFusion."""
    match cfg.backend:
        case "filesystem":
            url = Path(cfg.filesystem.directory, path).as_uri()
            return url + "/" if _is_dir(path) else url
        case "s3":
            return _url("s3", cfg.s3.bucket, cfg.s3.prefix, path)
        case "gcs":
            return _url("gs", cfg.gcs.bucket, cfg.gcs.prefix, path)
        case "azure":
            return _url("az", cfg.azure.container, cfg.azure.prefix, path)
    raise _unsupported(cfg.backend, "URLs")


def datafusion_store(cfg: StorageConfig) -> tuple[str, Any]:
    """Return (url_root, store) for `SessionContext.register_object_store(url_root, store)`.

    url_root is scheme and bucket only ("s3://bucket/"); use object_url for object paths.
    """
    from datafusion import object_store as dfo

    match cfg.backend:
        case "filesystem":
            return "file:///", dfo.LocalFileSystem()
        case "s3":
            c = cfg.s3
            store = dfo.AmazonS3(
                bucket_name=c.bucket,
                region=c.region or None,
                access_key_id=c.access_key_id or None,
                secret_access_key=c.secret_access_key or None,
                session_token=c.session_token or None,
                endpoint=c.endpoint or None,
                allow_http=c.allow_http,
            )
            return f"s3://{c.bucket}/", store
        case "gcs":
            g = cfg.gcs
            return f"gs://{g.bucket}/", dfo.GoogleCloud(g.bucket, g.service_account_path or None)
        case "azure":
            a = cfg.azure
            if a.endpoint and not a.use_emulator:
                raise NotImplementedError("datafusion's MicrosoftAzure store cannot take a custom azure.endpoint")
            store = dfo.MicrosoftAzure(
                a.container,
                account=a.account_name or None,
                access_key=a.account_key or None,
                use_emulator=a.use_emulator or None,
                allow_http=a.use_emulator or None,
            )
            return f"az://{a.container}/", store
    raise _unsupported(cfg.backend, "DataFusion")


def pyarrow_filesystem(cfg: StorageConfig) -> tuple[pyarrow.fs.FileSystem, str]:
    """Return (filesystem, base_path); objects live at f"{base_path}/{key}"."""
    from pyarrow import fs

    match cfg.backend:
        case "filesystem":
            return fs.LocalFileSystem(), str(Path(cfg.filesystem.directory))
        case "s3":
            c = cfg.s3
            scheme, host = _split_endpoint(c.endpoint, c.allow_http)
            s3 = fs.S3FileSystem(
                endpoint_override=host or None,
                scheme=scheme,
                access_key=c.access_key_id or None,
                secret_key=c.secret_access_key or None,
                session_token=c.session_token or None,
                region=c.region or None,
                # obstore uses path style for custom endpoints; match it so both
                # clients reach the same server the same way.
                force_virtual_addressing=not c.force_path_style and not c.endpoint,
            )
            return s3, join(c.bucket, normalize_root(c.prefix))
        case "gcs":
            g = cfg.gcs
            if g.service_account_path:
                raise NotImplementedError(
                    "pyarrow's GcsFileSystem cannot take gcs.service_account_path; "
                    "set GOOGLE_APPLICATION_CREDENTIALS instead"
                )
            return fs.GcsFileSystem(), join(g.bucket, normalize_root(g.prefix))
        case "azure":
            a = cfg.azure
            if a.use_emulator:
                scheme, host = "http", "127.0.0.1:10000"
            else:
                scheme, host = _split_endpoint(a.endpoint, allow_http=False)
            azure = fs.AzureFileSystem(
                a.account_name,
                a.account_key or None,
                blob_storage_authority=host or None,
                blob_storage_scheme=scheme if host else None,
            )
            return azure, join(a.container, normalize_root(a.prefix))
    raise _unsupported(cfg.backend, "pyarrow")


def _url(scheme: str, bucket: str, prefix: str, path: str) -> str:
    key = join(normalize_root(prefix), path)
    if key and _is_dir(path):
        key += "/"
    return f"{scheme}://{bucket}/{key}"


def _is_dir(path: str) -> bool:
    """"" and "x/" name directories; DataFusion reads those as a whole table."""
    return not path or path.endswith("/")


def _split_endpoint(endpoint: str, allow_http: bool) -> tuple[str, str]:
    """'http://host:port' -> ('http', 'host:port'); a bare host gets the default scheme."""
    scheme = "http" if allow_http else "https"
    if "://" in endpoint:
        scheme, endpoint = endpoint.split("://", 1)
    return scheme, endpoint.rstrip("/")


def _unsupported(backend: str, what: str) -> NotImplementedError:
    return NotImplementedError(
        f"the {backend!r} storage backend lives inside this process; {what} cannot reach it "
        "(use filesystem or an object store)"
    )
