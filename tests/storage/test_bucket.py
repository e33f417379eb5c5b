"""Bucket behaviour that every backend must share."""

from __future__ import annotations

import os
import threading
from datetime import datetime

import pytest

from tsdb.storage import Bucket, ObjectNotFound


def test_put_get_roundtrip(bucket: Bucket) -> None:
    bucket.put("t/x.bin", b"hello")
    assert bucket.get("t/x.bin") == b"hello"


def test_put_accepts_buffers_and_overwrites(bucket: Bucket) -> None:
    bucket.put("k", bytearray(b"one"))
    bucket.put("k", memoryview(b"two!"))
    assert bucket.get("k") == b"two!"


def test_empty_object(bucket: Bucket) -> None:
    bucket.put("empty", b"")
    assert bucket.get("empty") == b""
    assert bucket.head("empty").size == 0


def test_get_range(bucket: Bucket) -> None:
    bucket.put("r", b"0123456789")
    assert bucket.get_range("r", 2, 5) == b"234"
    assert bucket.get_range("r", 0, 10) == b"0123456789"
    assert bucket.get_range("r", 8, 100) == b"89"  # end is clipped to the size
    assert bucket.get_range("r", 4, 4) == b""


def test_get_range_rejects_bad_ranges(bucket: Bucket) -> None:
    bucket.put("r", b"0123456789")
    with pytest.raises(ValueError):
        bucket.get_range("r", 5, 2)
    with pytest.raises(ValueError):
        bucket.get_range("r", -1, 2)


def test_get_ranges(bucket: Bucket) -> None:
    bucket.put("r", bytes(range(256)) * 4)
    assert bucket.get_ranges("r", [0, 10, 1000], [2, 13, 1024]) == [b"\x00\x01", b"\x0a\x0b\x0c", bytes(range(232, 256))]
    assert bucket.get_ranges("r", [], []) == []
    with pytest.raises(ValueError):
        bucket.get_ranges("r", [0, 1], [2])


def test_head(bucket: Bucket) -> None:
    bucket.put("h/obj", b"abc")
    info = bucket.head("h/obj")
    assert (info.path, info.size) == ("h/obj", 3)
    assert isinstance(info.last_modified, datetime) and info.last_modified.tzinfo is not None


def test_exists(bucket: Bucket) -> None:
    assert not bucket.exists("e")
    bucket.put("e", b"1")
    assert bucket.exists("e")


@pytest.mark.parametrize(
    "read",
    [
        lambda b: b.get("missing"),
        lambda b: b.get_range("missing", 0, 1),
        lambda b: b.get_range("missing", 0, 0),
        lambda b: b.get_ranges("missing", [0], [1]),
        lambda b: b.head("missing"),
    ],
    ids=["get", "get_range", "get_range_empty", "get_ranges", "head"],
)
def test_missing_object_raises_object_not_found(bucket: Bucket, read) -> None:
    with pytest.raises(ObjectNotFound) as e:
        read(bucket)
    assert isinstance(e.value, KeyError)
    assert e.value.path == "missing"


def test_delete(bucket: Bucket) -> None:
    bucket.put("d/1", b"1")
    bucket.delete("d/1")
    assert not bucket.exists("d/1")
    bucket.delete("d/1")  # missing is fine
    bucket.delete("never/existed")


def test_delete_many(bucket: Bucket) -> None:
    for i in range(5):
        bucket.put(f"dm/{i}", b"x")
    bucket.delete_many(["dm/0", "dm/missing", "dm/2", "dm/4"])
    assert [o.path for o in bucket.list("dm/")] == ["dm/1", "dm/3"]
    bucket.delete_many([])


def test_list_is_recursive_and_sorted(bucket: Bucket) -> None:
    for path in ["t1/b/2", "t1/a", "t1/b/1", "t2/z"]:
        bucket.put(path, path.encode())
    listed = bucket.list("t1/")
    assert [o.path for o in listed] == ["t1/a", "t1/b/1", "t1/b/2"]
    assert [o.size for o in listed] == [4, 6, 6]
    assert [o.path for o in bucket.list("")] == ["t1/a", "t1/b/1", "t1/b/2", "t2/z"]
    assert bucket.list("nothing/") == []


def test_list_dirs(bucket: Bucket) -> None:
    for path in ["tenants/acme/blocks/1", "tenants/acme/wal/1", "tenants/beta/x", "tenants/top-level-file", "root"]:
        bucket.put(path, b"")
    assert bucket.list_dirs("") == ["tenants"]
    assert bucket.list_dirs("tenants/") == ["acme", "beta"]
    assert bucket.list_dirs("tenants/acme/") == ["blocks", "wal"]
    assert bucket.list_dirs("tenants/beta/") == []
    assert bucket.list_dirs("nothing/") == []


def test_emptied_directory_disappears(bucket: Bucket) -> None:
    bucket.put("gone/deep/obj", b"1")
    bucket.delete("gone/deep/obj")
    assert bucket.list("") == []
    if bucket.config.backend == "s3":
        return  # SeaweedFS drops emptied "directories" lazily (~2 min later); AWS S3 never lists them
    assert bucket.list_dirs("") == []


@pytest.mark.parametrize("prefix", ["a", "tenants/a", "/", "a//", "/a/"])
def test_list_prefix_must_end_with_slash(bucket: Bucket, prefix: str) -> None:
    with pytest.raises(ValueError):
        bucket.list(prefix)
    with pytest.raises(ValueError):
        bucket.list_dirs(prefix)


def test_tenant_a_never_sees_ab(bucket: Bucket) -> None:
    bucket.put("a/1", b"a")
    bucket.put("ab/1", b"ab")
    bucket.put("a.b/1", b"a.b")
    assert [o.path for o in bucket.list("a/")] == ["a/1"]
    assert bucket.list_dirs("a/") == []
    assert bucket.list_dirs("") == ["a", "a.b", "ab"]


@pytest.mark.parametrize("key", ["", "/a", "a/", "a//b", "a/../b", "./a", ".."])
def test_invalid_keys_are_rejected(bucket: Bucket, key: str) -> None:
    with pytest.raises(ValueError):
        bucket.put(key, b"x")
    with pytest.raises(ValueError):
        bucket.get(key)


def test_put_if_absent(bucket: Bucket) -> None:
    assert bucket.put_if_absent("commit/000001.json", b"first") is True
    assert bucket.put_if_absent("commit/000001.json", b"second") is False
    assert bucket.get("commit/000001.json") == b"first"


def test_put_if_absent_after_delete(bucket: Bucket) -> None:
    assert bucket.put_if_absent("c", b"1")
    bucket.delete("c")
    assert bucket.put_if_absent("c", b"2")
    assert bucket.get("c") == b"2"


def test_put_if_absent_contention_has_one_winner(bucket: Bucket) -> None:
    writers = 8
    barrier = threading.Barrier(writers)
    results: dict[int, bool] = {}
    errors: list[BaseException] = []

    def race(i: int) -> None:
        try:
            barrier.wait()
            results[i] = bucket.put_if_absent("commit/race.json", f"writer-{i}".encode() * 100)
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    winners = [i for i, won in results.items() if won]
    assert len(results) == writers and len(winners) == 1
    assert bucket.get("commit/race.json") == f"writer-{winners[0]}".encode() * 100


def test_large_object_multipart(bucket: Bucket) -> None:
    # 20 MiB > obstore's 5 MiB chunk size, so put() goes up as a multipart upload.
    data = os.urandom(1 << 20) * 20
    bucket.put("big/blob", data)
    assert bucket.head("big/blob").size == len(data)
    assert bucket.get("big/blob") == data
    assert bucket.get_range("big/blob", len(data) - 10, len(data)) == data[-10:]
    mid = 7 * (1 << 20) - 3
    assert bucket.get_ranges("big/blob", [0, mid], [5, mid + 6]) == [data[:5], data[mid : mid + 6]]
