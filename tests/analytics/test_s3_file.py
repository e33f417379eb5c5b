"""The file DuckDB reads S3 objects through: one position per thread, whole reads."""
from __future__ import annotations

import threading

import obstore
from obstore.store import MemoryStore

from tsdb.analytics.s3 import PositionalFile


def test_positions_are_per_thread_and_reads_are_whole():
    store = MemoryStore()
    data = bytes(range(256)) * 4096  # 1 MiB
    obstore.put(store, "k", data)
    f = PositionalFile(store, "k", len(data))
    assert f.seek(-10, 2) == len(data) - 10 and f.read(100) == data[-10:] and f.read() == b""
    f.seek(5)
    assert f.read(3) == data[5:8] and f.tell() == 8

    errors: list[str] = []

    def reader(offset: int) -> None:
        for _ in range(50):
            f.seek(offset)
            if f.read(65_536) != data[offset:offset + 65_536]:
                errors.append(f"wrong bytes at {offset}")

    threads = [threading.Thread(target=reader, args=(o,)) for o in (0, 100_000, 500_000, 1_000_000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and f.tell() == 8  # this thread's position never moved
