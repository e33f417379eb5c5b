"""One instance's entry in a ring, and where it lives in the KV store.

One key per instance (`{prefix}rings/{ring}/{id}`): heartbeats never contend with each
other, so no compare-and-swap of a shared ring descriptor is needed."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

import orjson


class InstanceState(str, Enum):
    JOINING = "JOINING"
    ACTIVE = "ACTIVE"
    LEAVING = "LEAVING"


@dataclass(frozen=True)
class InstanceDesc:
    id: str
    addr: str          # host:grpc_port
    http_addr: str     # host:http_port
    flight_addr: str   # host:flight_port
    state: str
    tokens: tuple[int, ...]
    heartbeat_ms: int
    registered_ms: int

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, data: bytes) -> "InstanceDesc":
        raw = orjson.loads(data)
        return cls(**{**raw, "tokens": tuple(int(t) for t in raw["tokens"])})


def ring_prefix(prefix: str, ring_name: str) -> str:
    return f"{prefix}rings/{ring_name}/"


def ring_key(prefix: str, ring_name: str, instance_id: str) -> str:
    return ring_prefix(prefix, ring_name) + instance_id
