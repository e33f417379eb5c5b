"""A local disk cache of immutable byte ranges, bounded in bytes, least recently used out.

The store gateway keeps the column chunks it fetched from the bucket here, so a row group
read twice costs one GET. Data files never change and never reuse a path, so a key
(path and byte range) is valid forever and nothing is invalidated; eviction is the only
way out. Each entry is one file named by a hash of its key, written to a temporary name
and renamed, so a crash leaves whole entries or none. The index lives in memory and is
rebuilt from the directory at start (oldest access first), so a restart keeps a warm cache;
an entry that vanished or was cut short is a miss, never wrong bytes.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".bin"


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    bytes: int = 0
    entries: int = 0


class DiskCache:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._index: OrderedDict[str, int] = OrderedDict()  # file name -> size, least recent first
        self._bytes = 0
        self._lock = threading.Lock()
        self.stats = CacheStats()
        self._load()

    @staticmethod
    def key(path: str, start: int, end: int) -> str:
        return hashlib.blake2b(f"{path}\0{start}\0{end}".encode(), digest_size=20).hexdigest() + SUFFIX

    def _load(self) -> None:
        entries = []
        for f in self.directory.iterdir():
            if f.name.endswith(SUFFIX):
                st = f.stat()
                entries.append((st.st_atime_ns, f.name, st.st_size))
            else:
                f.unlink(missing_ok=True)  # a temporary file of a write cut short
        for _, name, size in sorted(entries):
            self._index[name] = size
            self._bytes += size
        with self._lock:
            self._evict_locked()
            self._update_stats_locked()

    def get(self, path: str, start: int, end: int) -> bytes | None:
        name = self.key(path, start, end)
        with self._lock:
            known = name in self._index
            if known:
                self._index.move_to_end(name)
        data = self._read(name, end - start) if known else None
        with self._lock:
            if data is None:
                self.stats.misses += 1
                if known:
                    self._drop_locked(name)
            else:
                self.stats.hits += 1
        return data

    def _read(self, name: str, size: int) -> bytes | None:
        try:
            with open(self.directory / name, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        return data if len(data) == size else None

    def put(self, path: str, start: int, end: int, data: bytes) -> None:
        size = len(data)
        if size != end - start or size > self.max_bytes:
            return
        name = self.key(path, start, end)
        tmp = self.directory / f"{name}.{threading.get_ident()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, self.directory / name)
        with self._lock:
            if name in self._index:
                self._bytes -= self._index.pop(name)
            self._index[name] = size
            self._bytes += size
            self._evict_locked()
            self._update_stats_locked()

    def _evict_locked(self) -> None:
        while self._bytes > self.max_bytes and self._index:
            name, size = self._index.popitem(last=False)
            self._bytes -= size
            (self.directory / name).unlink(missing_ok=True)
            self.stats.evictions += 1

    def _drop_locked(self, name: str) -> None:
        self._bytes -= self._index.pop(name, 0)
        (self.directory / name).unlink(missing_ok=True)
        self._update_stats_locked()

    def _update_stats_locked(self) -> None:
        self.stats.bytes = self._bytes
        self.stats.entries = len(self._index)
