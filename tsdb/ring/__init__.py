"""Hash rings (Mimir's vocabulary and defaults): who owns which series, file or tenant."""
from tsdb.ring.desc import InstanceDesc, InstanceState, ring_key, ring_prefix
from tsdb.ring.kv import KV, EtcdKV, KVUnavailable, MemoryKV, open_kv
from tsdb.ring.lifecycler import Lifecycler
from tsdb.ring.pages import add_ring_routes
from tsdb.ring.ring import Ring
from tsdb.ring.tokens import random_tokens, series_tokens, string_token
from tsdb.ring.watcher import RingWatcher

__all__ = ["InstanceDesc", "InstanceState", "ring_key", "ring_prefix", "KV", "EtcdKV", "KVUnavailable", "MemoryKV",
           "open_kv", "Lifecycler", "add_ring_routes", "Ring", "random_tokens", "series_tokens", "string_token",
           "RingWatcher"]
