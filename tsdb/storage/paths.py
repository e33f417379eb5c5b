"""Validation of object keys and listing prefixes.

Backends disagree on odd keys (S3 keeps "a//b" and "a/", obstore's local and memory
stores normalise or reject them), so we refuse them up front and every backend
behaves the same.
"""

from __future__ import annotations


def check_key(path: str) -> str:
    """Return `path` if it is a clean object key, else raise ValueError."""
    if not path or path.startswith("/") or path.endswith("/"):
        raise ValueError(f"invalid object key {path!r}: must be non-empty and not start or end with '/'")
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError(f"invalid object key {path!r}: empty, '.' or '..' segment")
    return path


def check_prefix(prefix: str) -> str:
    """Return `prefix` if it is "" (bucket root) or a clean key ending in '/'.

    The trailing slash is mandatory so that listing tenant "a/" can never
    match objects of tenant "ab/".
    """
    if prefix == "":
        return prefix
    if not prefix.endswith("/"):
        raise ValueError(f"listing prefix {prefix!r} must end with '/' (or be '' for the bucket root)")
    check_key(prefix[:-1])
    return prefix


def normalize_root(prefix: str) -> str:
    """Turn a configured store prefix into "" or "seg/seg" (no outer slashes)."""
    root = prefix.strip("/")
    if root:
        check_key(root)
    return root


def join(*parts: str) -> str:
    """Join non-empty key parts with '/'."""
    return "/".join(p.strip("/") for p in parts if p.strip("/"))
