"""The `bucket` fixture: the same tests run against disk, memory and a real S3 server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsdb.storage import Bucket, FilesystemConfig, StorageConfig, open_bucket


def open_test_bucket(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Bucket:
    """A fresh, empty bucket of `backend`; S3 starts the SeaweedFS server on first use."""
    if backend == "s3":
        return request.getfixturevalue("s3_bucket")
    if backend == "memory":
        return open_bucket(StorageConfig(backend="memory"))
    return open_bucket(StorageConfig(filesystem=FilesystemConfig(str(tmp_path / "bucket"))))


@pytest.fixture(params=["filesystem", "memory", pytest.param("s3", marks=pytest.mark.s3)])
def bucket(request: pytest.FixtureRequest, tmp_path: Path) -> Bucket:
    return open_test_bucket(request, request.param, tmp_path)


@pytest.fixture(params=["filesystem", pytest.param("s3", marks=pytest.mark.s3)])
def remote_bucket(request: pytest.FixtureRequest, tmp_path: Path) -> Bucket:
    """Backends other processes and engines can reach (not memory)."""
    return open_test_bucket(request, request.param, tmp_path)
