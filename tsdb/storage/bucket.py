"""Bucket: the one object-storage API the rest of MyTSDB uses, over any obstore backend.

Synchronous on purpose: callers are worker threads, and obstore releases the GIL
while it does I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import obstore
from obstore.exceptions import AlreadyExistsError, NotFoundError

from . import readers
from .config import StorageConfig
from .errors import ObjectNotFound
from .paths import check_key, check_prefix
from .stores import make_store

if TYPE_CHECKING:
    import pyarrow.fs
    from obstore.store import ObjectStore

Data = bytes | bytearray | memoryview

# obstore 0.12 raises the builtin FileNotFoundError for a missing object, though it
# also defines NotFoundError; accept both.
_NOT_FOUND = (FileNotFoundError, NotFoundError)


@dataclass(frozen=True)
class ObjectInfo:
    """Metadata of one stored object; `path` is relative to the bucket root."""

    path: str
    size: int
    last_modified: datetime


class Bucket:
    """One bucket (or prefix of one): keys map to immutable-ish bytes."""

    def __init__(self, store: ObjectStore, config: StorageConfig) -> None:
        self._store = store
        self._config = config

    @property
    def config(self) -> StorageConfig:
        """The resolved config this bucket was opened with (filesystem path absolute)."""
        return self._config

    @property
    def store(self) -> ObjectStore:
        """The underlying obstore store, for streaming APIs this class doesn't wrap."""
        return self._store

    # -- reads -----------------------------------------------------------------

    def get(self, path: str) -> bytes:
        """Whole object."""
        with _not_found(check_key(path)):
            return bytes(obstore.get(self._store, path).bytes())

    def get_range(self, path: str, start: int, end: int) -> bytes:
        """Bytes [start, end); `end` past the object's size is clipped to it."""
        _check_range(start, end)
        if start == end:
            self.head(path)  # still report a missing object
            return b""
        with _not_found(check_key(path)):
            return bytes(obstore.get_range(self._store, path, start=start, end=end))

    def get_ranges(self, path: str, starts: Sequence[int], ends: Sequence[int]) -> list[bytes]:
        """Several [start, end) ranges in one call; obstore coalesces nearby ranges."""
        if len(starts) != len(ends):
            raise ValueError(f"{len(starts)} starts but {len(ends)} ends")
        for start, end in zip(starts, ends):
            _check_range(start, end)
        if not starts:
            return []
        with _not_found(check_key(path)):
            chunks = obstore.get_ranges(self._store, path, starts=list(starts), ends=list(ends))
        return [bytes(c) for c in chunks]

    def head(self, path: str) -> ObjectInfo:
        """Metadata without the body."""
        with _not_found(check_key(path)):
            return _info(obstore.head(self._store, path))

    def exists(self, path: str) -> bool:
        try:
            self.head(path)
        except ObjectNotFound:
            return False
        return True

    # -- writes ----------------------------------------------------------------

    def put(self, path: str, data: Data) -> None:
        """Write or overwrite. Only for objects whose names are unique (data files).

        Objects over 5 MiB go up as a multipart upload, which is still atomic.
        """
        obstore.put(self._store, check_key(path), data)

    def put_file(self, path: str, local: Path) -> None:
        """Upload a local file, streamed (multipart above 5 MiB, still atomic)."""
        obstore.put(self._store, check_key(path), Path(local))

    def put_if_absent(self, path: str, data: Data) -> bool:
        """Create-only write; False if the object already exists.

        This is the commit primitive: among concurrent writers exactly one wins.
        (If-Match compare-and-swap is not used because SeaweedFS loses updates.)
        """
        try:
            obstore.put(self._store, check_key(path), data, mode="create")
        except AlreadyExistsError:
            return False
        return True

    def delete(self, path: str) -> None:
        """Delete; a missing object is not an error."""
        try:
            obstore.delete(self._store, check_key(path))
        except _NOT_FOUND:
            pass

    def delete_many(self, paths: Sequence[str]) -> None:
        """Delete several objects (bulk request where the backend has one)."""
        keys = [check_key(p) for p in paths]
        if not keys:
            return
        try:
            obstore.delete(self._store, keys)
        except _NOT_FOUND:
            # The local store stops at the first missing file; finish one by one.
            for key in keys:
                self.delete(key)

    # -- listing ---------------------------------------------------------------

    def list(self, prefix: str) -> list[ObjectInfo]:
        """All objects under `prefix` ("" or ending in "/"), recursively, sorted by path."""
        check_prefix(prefix)
        metas = obstore.list(self._store, prefix.rstrip("/") or None).collect()
        return sorted((_info(m) for m in metas), key=lambda i: i.path)

    def list_dirs(self, prefix: str) -> list[str]:
        """Names of the "directories" directly under `prefix` ("" or ending in "/"), sorted.

        Servers that emulate directories may briefly keep listing one whose objects were
        all deleted (SeaweedFS removes it ~2 minutes later), so a name may turn out empty.
        """
        check_prefix(prefix)
        result = obstore.list_with_delimiter(self._store, prefix.rstrip("/") or None)
        return sorted(p[len(prefix):].rstrip("/") for p in result["common_prefixes"])

    # -- for other engines -------------------------------------------------------

    def describe(self) -> str:
        """Backend and location for logs; never includes credentials."""
        return describe(self._config)

    def url(self, path: str = "") -> str:
        """URL of a key, or of a directory if `path` is "" or ends in "/" (for DataFusion)."""
        return readers.object_url(self._config, path)

    def datafusion_store(self) -> tuple[str, Any]:
        """(url_root, store) for `SessionContext.register_object_store(url_root, store)`."""
        return readers.datafusion_store(self._config)

    def pyarrow_filesystem(self) -> tuple[pyarrow.fs.FileSystem, str]:
        """(filesystem, base_path); a key lives at f"{base_path}/{key}"."""
        return readers.pyarrow_filesystem(self._config)

    def __repr__(self) -> str:
        return f"Bucket({self.describe()})"


def open_bucket(cfg: StorageConfig) -> Bucket:
    """Open the bucket `cfg` names; a filesystem directory is created if missing."""
    if cfg.backend == "filesystem":
        directory = Path(cfg.filesystem.directory).expanduser().resolve()
        directory.mkdir(parents=True, exist_ok=True)
        # Pin the absolute path so later helpers don't depend on the working directory.
        cfg = dataclasses.replace(cfg, filesystem=dataclasses.replace(cfg.filesystem, directory=str(directory)))
    return Bucket(make_store(cfg), cfg)


def describe(cfg: StorageConfig) -> str:
    """One-line description of a storage config, safe to log."""
    match cfg.backend:
        case "filesystem":
            return f"filesystem {cfg.filesystem.directory}"
        case "memory":
            return "memory"
        case "s3":
            s = cfg.s3
            where = f" endpoint={s.endpoint}" if s.endpoint else f" region={s.region}"
            return f"s3 {readers.object_url(cfg)}{where}"
        case "gcs":
            return f"gcs {readers.object_url(cfg)}"
        case "azure":
            a = cfg.azure
            where = " (emulator)" if a.use_emulator else (f" endpoint={a.endpoint}" if a.endpoint else "")
            return f"azure account={a.account_name or '<env>'} {readers.object_url(cfg)}{where}"
    return cfg.backend


@contextmanager
def _not_found(path: str) -> Iterator[None]:
    try:
        yield
    except _NOT_FOUND as e:
        raise ObjectNotFound(path) from e


def _check_range(start: int, end: int) -> None:
    if start < 0 or end < start:
        raise ValueError(f"invalid byte range [{start}, {end})")


def _info(meta: Any) -> ObjectInfo:
    return ObjectInfo(path=meta["path"], size=meta["size"], last_modified=meta["last_modified"])
