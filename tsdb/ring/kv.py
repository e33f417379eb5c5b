"""The KV store that holds ring state: in memory (`all` mode) or etcd (distributed).

etcd is reached through its v3 JSON gateway with the standard library: the `etcd3`
client does not import with protobuf 7 (DESIGN §9), and four calls are all we need.
"""
from __future__ import annotations

import base64
import http.client
import json
import threading
from typing import Protocol

from tsdb.config import RingConfig


class KVUnavailable(Exception):
    """The store could not be reached; callers keep their last state and retry."""


class KV(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def list_prefix(self, prefix: str) -> dict[str, bytes]: ...
    def put(self, key: str, value: bytes) -> None: ...
    def create(self, key: str, value: bytes) -> bool: ...
    def compare_and_swap(self, key: str, old: bytes, new: bytes) -> bool: ...
    def delete(self, key: str) -> None: ...
    def close(self) -> None: ...


class MemoryKV:
    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._data.get(key)

    def list_prefix(self, prefix: str) -> dict[str, bytes]:
        with self._lock:
            return {k: v for k, v in self._data.items() if k.startswith(prefix)}

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            self._data[key] = value

    def create(self, key: str, value: bytes) -> bool:
        with self._lock:
            if key in self._data:
                return False
            self._data[key] = value
            return True

    def compare_and_swap(self, key: str, old: bytes, new: bytes) -> bool:
        with self._lock:
            if self._data.get(key) != old:
                return False
            self._data[key] = new
            return True

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def close(self) -> None:
        pass


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _prefix_end(prefix: bytes) -> bytes:
    """etcd's range end for "every key starting with prefix"."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


class EtcdKV:
    """etcd v3 over its JSON gateway. Each call tries the endpoints in order."""

    def __init__(self, endpoints: list[str], timeout_s: float) -> None:
        if not endpoints:
            raise ValueError("no etcd endpoints")
        self.endpoints = endpoints
        self.timeout_s = timeout_s

    def _call(self, path: str, body: dict) -> dict:
        payload = json.dumps(body).encode()
        errors = []
        for endpoint in self.endpoints:
            host, _, port = endpoint.rpartition(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=self.timeout_s)
            try:
                conn.request("POST", path, payload, {"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
                if response.status != 200:
                    errors.append(f"{endpoint}: HTTP {response.status}: {data[:200]!r}")
                    continue
                return json.loads(data or b"{}")
            except (OSError, http.client.HTTPException, ValueError) as e:
                errors.append(f"{endpoint}: {e}")
            finally:
                conn.close()
        raise KVUnavailable("etcd unreachable: " + "; ".join(errors))

    def get(self, key: str) -> bytes | None:
        kvs = self._call("/v3/kv/range", {"key": _b64(key.encode())}).get("kvs") or []
        return base64.b64decode(kvs[0].get("value", "")) if kvs else None

    def list_prefix(self, prefix: str) -> dict[str, bytes]:
        raw = prefix.encode()
        kvs = self._call("/v3/kv/range", {"key": _b64(raw), "range_end": _b64(_prefix_end(raw))}).get("kvs") or []
        return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")) for kv in kvs}

    def put(self, key: str, value: bytes) -> None:
        self._call("/v3/kv/put", {"key": _b64(key.encode()), "value": _b64(value)})

    def create(self, key: str, value: bytes) -> bool:
        k = _b64(key.encode())
        answer = self._call("/v3/kv/txn", {
            "compare": [{"key": k, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
            "success": [{"request_put": {"key": k, "value": _b64(value)}}],
        })
        return bool(answer.get("succeeded", False))

    def compare_and_swap(self, key: str, old: bytes, new: bytes) -> bool:
        """Put `new` only if the value is still `old` (etcd compares values in one txn)."""
        k = _b64(key.encode())
        answer = self._call("/v3/kv/txn", {
            "compare": [{"key": k, "target": "VALUE", "result": "EQUAL", "value": _b64(old)}],
            "success": [{"request_put": {"key": k, "value": _b64(new)}}],
        })
        return bool(answer.get("succeeded", False))

    def delete(self, key: str) -> None:
        self._call("/v3/kv/deleterange", {"key": _b64(key.encode())})

    def close(self) -> None:
        pass


def open_kv(cfg: RingConfig) -> KV:
    if cfg.kvstore == "etcd":
        return EtcdKV([e.strip() for e in cfg.etcd_endpoints.split(",") if e.strip()], cfg.etcd_dial_timeout / 1000)
    return MemoryKV()
