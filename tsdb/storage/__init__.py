"""Object storage: one Bucket API over local disk, memory, S3, GCS and Azure (via obstore)."""

from .bucket import Bucket, ObjectInfo, open_bucket
from .config import AzureConfig, FilesystemConfig, GCSConfig, MemoryConfig, S3Config, StorageConfig
from .errors import ObjectNotFound

__all__ = [
    "AzureConfig",
    "Bucket",
    "FilesystemConfig",
    "GCSConfig",
    "MemoryConfig",
    "ObjectInfo",
    "ObjectNotFound",
    "S3Config",
    "StorageConfig",
    "open_bucket",
]
