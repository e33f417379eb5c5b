"""The store gateway's disk cache of row-group bytes: LRU within its bound, crash-safe
entries, a warm restart, and gateway answers identical with a cold, warm or tiny cache."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from tests.query.conftest import as_rows, matchers, push
from tests.support import BASE_TS, make_series
from tsdb.query import StorageSource
from tsdb.storage.diskcache import DiskCache
from tsdb.storegateway import CacheCollector, StoreGateway
from tsdb.tenancy import Tenant

A = Tenant("team-a")
END = BASE_TS + 10**8


def test_lru_stays_within_its_bound(tmp_path):
    cache = DiskCache(tmp_path, max_bytes=250)
    for i in range(5):
        cache.put("f", i * 100, i * 100 + 100, bytes([i]) * 100)
        assert cache.stats.bytes <= 250
    assert cache.get("f", 0, 100) is None  # oldest evicted
    assert cache.get("f", 300, 400) == bytes([3]) * 100
    cache.put("f", 500, 600, b"x" * 100)  # evicts 400-500 (least recent), not 300-400 (just read)
    assert cache.get("f", 400, 500) is None
    assert cache.get("f", 300, 400) is not None
    assert cache.stats.evictions == 4 and cache.stats.entries == 2
    on_disk = sum(f.stat().st_size for f in tmp_path.iterdir())
    assert on_disk == cache.stats.bytes <= 250


def test_oversized_and_mislabelled_ranges_are_not_cached(tmp_path):
    cache = DiskCache(tmp_path, max_bytes=10)
    cache.put("f", 0, 20, b"y" * 20)
    cache.put("f", 0, 5, b"short")  # length matches the range: kept
    cache.put("f", 0, 4, b"wrong length")
    assert cache.get("f", 0, 20) is None and cache.get("f", 0, 4) is None
    assert cache.get("f", 0, 5) == b"short"


def test_restart_keeps_entries_and_drops_damaged_ones(tmp_path):
    cache = DiskCache(tmp_path, max_bytes=1000)
    cache.put("a", 0, 10, b"0123456789")
    cache.put("b", 0, 10, b"abcdefghij")
    (tmp_path / "leftover.1234.tmp").write_bytes(b"partial")  # a write cut short by kill -9
    damaged = tmp_path / DiskCache.key("b", 0, 10)
    damaged.write_bytes(b"abc")  # truncated behind the cache's back
    again = DiskCache(tmp_path, max_bytes=1000)
    assert not (tmp_path / "leftover.1234.tmp").exists()
    assert again.get("a", 0, 10) == b"0123456789"
    assert again.get("b", 0, 10) is None  # a miss, never wrong bytes
    assert not damaged.exists()
    smaller = DiskCache(tmp_path, max_bytes=5)  # a smaller bound at start evicts at once
    assert smaller.stats.bytes == 0 and list(tmp_path.iterdir()) == []


@pytest.fixture
def memory_services(make_services):
    services = make_services(storage={"backend": "memory"})
    series = make_series(n_instances=4, n_points=400)
    for k in range(3):  # three files, several row groups each
        push(services, A, series[k::3])
        services.ingester.flush(A)
    return services


def _gateway(services, tmp_path, max_bytes: int) -> StoreGateway:
    cfg = services.cfg
    sg = replace(cfg.store_gateway, cache_dir=str(tmp_path / "cache"), cache_max_bytes=max_bytes)
    return StoreGateway(replace(cfg, store_gateway=sg), services.bucket)


def _select(gateway: StoreGateway, services):
    files = [e.path for e in services.manifests.load(A).files]
    return as_rows(gateway.backend().select(A, matchers('{__name__=~".+"}'), BASE_TS, END, files))


def test_gateway_answers_the_same_cold_warm_and_with_a_tiny_cache(memory_services, tmp_path):
    services = memory_services
    want = as_rows(_direct(services))
    gw = _gateway(services, tmp_path, max_bytes=1 << 30)
    assert _select(gw, services) == want  # cold: everything from the bucket
    misses = gw.chunk_cache.stats.misses
    assert misses > 0 and gw.chunk_cache.stats.hits == 0
    assert _select(gw, services) == want  # warm: everything from disk
    assert gw.chunk_cache.stats.hits == misses and gw.chunk_cache.stats.misses == misses

    restarted = _gateway(services, tmp_path, max_bytes=1 << 30)  # same dir: warm after restart
    assert _select(restarted, services) == want and restarted.chunk_cache.stats.misses == 0

    tiny_bound = 4096
    tiny = _gateway(services, tmp_path / "tiny", max_bytes=tiny_bound)
    for _ in range(2):
        assert _select(tiny, services) == want
        on_disk = sum(f.stat().st_size for f in (tmp_path / "tiny" / "cache").iterdir())
        assert on_disk == tiny.chunk_cache.stats.bytes <= tiny_bound
    assert tiny.chunk_cache.stats.evictions > 0
    families = {f.name: f for f in CacheCollector(tiny.chunk_cache).collect()}
    assert families["mytsdb_store_gateway_cache_bytes"].samples[0].value == tiny.chunk_cache.stats.bytes
    assert families["mytsdb_store_gateway_cache_max_bytes"].samples[0].value == tiny_bound


def _direct(services):
    return StorageSource(services, A, read_head=False).select(matchers('{__name__=~".+"}'), BASE_TS, END)


def test_cache_files_are_whole_after_concurrent_readers(memory_services, tmp_path):
    services = memory_services
    gw = _gateway(services, tmp_path, max_bytes=1 << 30)
    want = as_rows(_direct(services))
    with ThreadPoolExecutor(4) as pool:
        assert all(r == want for r in pool.map(lambda _: _select(gw, services), range(8)))
    names = os.listdir(tmp_path / "cache")
    assert names and all(n.endswith(".bin") for n in names)
