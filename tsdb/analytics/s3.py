"""S3 for DuckDB without the httpfs extension: obstore's fsspec adapter, registered in a
DuckDB connection, with reads that are safe from DuckDB's threads.

DuckDB reads a registered fsspec file by `seek(offset)` then `read(n)` on one handle that
all its threads share. The adapter's file keeps one position per handle and releases the
GIL while it fetches, so two threads' seeks interleave: reads come back short or from the
wrong offset (DuckDB reports "Failed to read N bytes ... only M bytes returned", or a
Thrift error on the bytes it got). Here each thread has its own position, and a read is
one ranged GET at that position. Object sizes are cached per connection: DuckDB asks for
a file's size on every open, the data files are immutable, and each ask is a HEAD request.
"""
from __future__ import annotations

import threading
from typing import Any

import obstore
from obstore.fsspec import FsspecStore

from tsdb.storage.config import S3Config
from tsdb.storage.stores import s3_client_options


class PositionalFile:
    """A read-only file of one object whose position is per thread, so concurrent
    `seek` + `read` pairs from different threads never disturb each other."""

    def __init__(self, store: Any, key: str, size: int) -> None:
        self._store, self._key, self.size = store, key, size
        self._local = threading.local()
        self.closed = False

    @property
    def _pos(self) -> int:
        return getattr(self._local, "pos", 0)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._pos, self.size)[whence]
        self._local.pos = max(0, base + offset)
        return self._local.pos

    def tell(self) -> int:
        return self._pos

    def read(self, length: int = -1) -> bytes:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        pos = self._pos
        length = self.size - pos if length is None or length < 0 else min(length, self.size - pos)
        if length <= 0:
            return b""
        data = bytes(obstore.get_range(self._store, self._key, start=pos, length=length))
        self._local.pos = pos + len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> "PositionalFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DuckDBS3FileSystem(FsspecStore):
    """obstore's fsspec adapter for `s3://bucket/key` paths, with thread-safe reads and
    cached object metadata (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stores: dict[str, Any] = {}
        self._heads: dict[str, dict] = {}
        self._lock = threading.Lock()

    def _store_of(self, path: str) -> tuple[Any, str]:
        bucket, key = self._split_path(path)
        with self._lock:
            store = self._stores.get(bucket)
            if store is None:
                store = self._stores[bucket] = self._construct_store(bucket)
        return store, key

    def _head(self, path: str) -> dict:
        with self._lock:
            head = self._heads.get(path)
        if head is None:
            store, key = self._store_of(path)
            head = obstore.head(store, key)
            with self._lock:
                self._heads[path] = head
        return head

    def size(self, path: str) -> int:
        return int(self._head(path)["size"])

    def modified(self, path: str):
        return self._head(path)["last_modified"]

    def _open(self, path: str, mode: str = "rb", **kwargs: Any):
        if mode != "rb":
            return super()._open(path, mode, **kwargs)
        store, key = self._store_of(path)
        return PositionalFile(store, key, self.size(path))


def s3_filesystem(s3: S3Config) -> DuckDBS3FileSystem:
    """The filesystem to `register_filesystem` for a bucket configured as `storage.s3`."""
    return DuckDBS3FileSystem("s3", **s3_client_options(s3))
