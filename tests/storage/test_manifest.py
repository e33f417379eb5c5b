"""Manifest commits: numbered create-only versions, no lost update under contention."""
from __future__ import annotations

import threading
from dataclasses import replace

from tsdb.manifest import FileEntry, Manifest, ManifestStore
from tsdb.tenancy import Tenant


def entry(i: int) -> FileEntry:
    return FileEntry(f"t/data/2026-01-01/f{i}.parquet", f"t/series/2026-01-01/f{i}.parquet", "2026-01-01", 0,
                     i, i + 1, 10, 1, 100, 0, 1, "test")


def add(e: FileEntry):
    return lambda m, v: replace(m, files=m.files + (replace(e, seq=v),))


def test_versions_and_snapshot(bucket):
    store = ManifestStore(bucket, _sleep=lambda s: None)
    t = Tenant("t")
    assert store.load(t) == Manifest()
    store.commit(t, add(entry(1)))
    m = store.commit(t, add(entry(2)))
    assert m.version == 2 and [f.path for f in m.files] == [entry(1).path, entry(2).path]
    assert [f.seq for f in store.load(t).files] == [1, 2]
    assert store.load(Tenant("t2")).version == 0  # `t` and `t2` don't share a prefix


def test_concurrent_commits_lose_nothing(bucket):
    store = ManifestStore(bucket, keep_versions=4, max_attempts=200, _sleep=lambda s: None)
    t = Tenant("race")
    n_threads, per_thread = 4, 5

    def worker(k):
        for j in range(per_thread):
            store.commit(t, add(entry(k * 100 + j)))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    final = store.load(t)
    assert final.version == n_threads * per_thread
    assert len({f.path for f in final.files}) == n_threads * per_thread
    # Recent versions are never deleted, so no stalled writer can re-create one.
    assert len(bucket.list("race/manifest/")) == n_threads * per_thread


def test_old_versions_are_cleaned_up(bucket):
    store = ManifestStore(bucket, keep_versions=3, min_age_s=0.0, _sleep=lambda s: None)
    t = Tenant("gc")
    for i in range(10):
        store.commit(t, add(entry(i)))
    versions = sorted(o.path for o in bucket.list("gc/manifest/"))
    assert len(versions) < 10 and versions[-1].endswith("00000000000000000010.json")
    assert len(store.load(t).files) == 10
