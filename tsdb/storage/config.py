"""Object-storage settings, one frozen dataclass per backend.

Empty credential fields mean "resolve from the environment / instance metadata"
(obstore's default credential chain), so secrets need not live in config files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BACKENDS = ("filesystem", "memory", "s3", "gcs", "azure")


@dataclass(frozen=True)
class FilesystemConfig:
    """A local directory standing in for a bucket (dev, single node, tests)."""

    directory: str = "./data/bucket"


@dataclass(frozen=True)
class MemoryConfig:
    """Process-local store; contents vanish with the process (tests only)."""


@dataclass(frozen=True)
class S3Config:
    """AWS S3 or an S3-compatible server (MinIO, SeaweedFS, R2, ...)."""

    endpoint: str = ""
    region: str = "us-east-1"
    bucket: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""
    session_token: str = ""
    allow_http: bool = False
    # True = path-style URLs (http://host/bucket/key), which self-hosted servers need.
    force_path_style: bool = False
    prefix: str = ""


@dataclass(frozen=True)
class GCSConfig:
    """Google Cloud Storage."""

    bucket: str = ""
    service_account_path: str = ""
    prefix: str = ""


@dataclass(frozen=True)
class AzureConfig:
    """Azure Blob Storage (or the Azurite emulator)."""

    account_name: str = ""
    account_key: str = ""
    container: str = ""
    endpoint: str = ""
    use_emulator: bool = False
    prefix: str = ""


@dataclass(frozen=True)
class StorageConfig:
    """Which backend to use, plus the settings of every backend.

    Keeping all sections lets one config file switch backends by changing a word.
    """

    backend: str = "filesystem"
    filesystem: FilesystemConfig = field(default_factory=FilesystemConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    s3: S3Config = field(default_factory=S3Config)
    gcs: GCSConfig = field(default_factory=GCSConfig)
    azure: AzureConfig = field(default_factory=AzureConfig)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown storage backend {self.backend!r}; expected one of {BACKENDS}")
