"""Opening buckets from config: validation, prefixes, descriptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.seaweedfs import S3ServerInfo
from tsdb.storage.bucket import describe
from tsdb.storage import (
    AzureConfig,
    FilesystemConfig,
    GCSConfig,
    S3Config,
    StorageConfig,
    open_bucket,
)


def test_unknown_backend_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown storage backend"):
        StorageConfig(backend="ftp")


@pytest.mark.parametrize("backend", ["s3", "gcs", "azure"])
def test_cloud_backends_need_a_bucket(backend: str) -> None:
    with pytest.raises(ValueError, match="required"):
        open_bucket(StorageConfig(backend=backend))


def test_s3_key_pair_must_be_complete() -> None:
    with pytest.raises(ValueError, match="secret_access_key"):
        open_bucket(StorageConfig(backend="s3", s3=S3Config(bucket="b", access_key_id="id")))


def test_filesystem_directory_is_created_and_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    bucket = open_bucket(StorageConfig(filesystem=FilesystemConfig("data/bucket")))
    assert (tmp_path / "data" / "bucket").is_dir()
    assert bucket.config.filesystem.directory == str(tmp_path / "data" / "bucket")
    bucket.put("x/y", b"1")
    assert (tmp_path / "data" / "bucket" / "x" / "y").read_bytes() == b"1"


def test_describe_never_shows_secrets() -> None:
    secret = "SUPER-SECRET-VALUE"
    configs = [
        StorageConfig(backend="s3", s3=S3Config(
            endpoint="http://127.0.0.1:9000", bucket="b", prefix="p/", access_key_id="AKIA",
            secret_access_key=secret, session_token=secret, allow_http=True,
        )),
        StorageConfig(backend="gcs", gcs=GCSConfig(bucket="g", service_account_path=f"/{secret}.json")),
        StorageConfig(backend="azure", azure=AzureConfig(account_name="acct", account_key=secret, container="c")),
    ]
    texts = [describe(c) for c in configs]
    assert texts[0] == "s3 s3://b/p/ endpoint=http://127.0.0.1:9000"
    assert texts[1] == "gcs gs://g/"
    assert texts[2] == "azure account=acct az://c/"
    assert all(secret not in t for t in texts)


def test_filesystem_prefixes_are_isolated(tmp_path: Path) -> None:
    root = open_bucket(StorageConfig(filesystem=FilesystemConfig(str(tmp_path))))
    sub = open_bucket(StorageConfig(filesystem=FilesystemConfig(str(tmp_path / "tenant"))))
    sub.put("k", b"v")
    assert [o.path for o in root.list("")] == ["tenant/k"]
    assert [o.path for o in sub.list("")] == ["k"]


@pytest.mark.s3
def test_s3_prefixes_are_isolated(s3_server: S3ServerInfo) -> None:
    a = open_bucket(s3_server.storage_config(prefix="iso/a"))
    ab = open_bucket(s3_server.storage_config(prefix="/iso/ab/"))  # slashes are trimmed
    a.put("k", b"a")
    ab.put("k", b"ab")
    assert [(o.path, a.get(o.path)) for o in a.list("")] == [("k", b"a")]
    assert ab.get("k") == b"ab"
    a.delete("k")
    ab.delete("k")


@pytest.mark.s3
def test_s3_explicit_keys_ignore_ambient_session_token(s3_server: S3ServerInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "stale-token-from-the-shell")
    bucket = open_bucket(s3_server.storage_config(prefix="token-test"))
    bucket.put("k", b"ok")
    assert bucket.get("k") == b"ok"
    bucket.delete("k")
