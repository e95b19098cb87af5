"""Object storage behind a small interface; ``storage.s3`` is the only module that imports boto3."""

from storage.s3 import ObjectInfo, ObjectNotFound, ObjectStore, StorageError, get_store

__all__ = ["ObjectInfo", "ObjectNotFound", "ObjectStore", "StorageError", "get_store"]
