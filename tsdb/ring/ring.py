"""An immutable snapshot of a ring: who owns which key, and who is healthy."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tsdb.ring.desc import InstanceDesc, InstanceState
from tsdb.ring.tokens import string_token


@dataclass(frozen=True)
class Ring:
    name: str
    instances: tuple[InstanceDesc, ...]  # sorted by id
    judged_at_ms: int                    # health is judged as of this time
    heartbeat_timeout_ms: int
    _tables: dict = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.instances)

    def healthy(self, inst: InstanceDesc, allow_leaving: bool = False) -> bool:
        ok_states = (InstanceState.ACTIVE, InstanceState.LEAVING) if allow_leaving else (InstanceState.ACTIVE,)
        return inst.state in ok_states and self.judged_at_ms - inst.heartbeat_ms <= self.heartbeat_timeout_ms

    def healthy_instances(self) -> list[InstanceDesc]:
        return [i for i in self.instances if self.healthy(i)]

    def by_id(self, instance_id: str) -> InstanceDesc | None:
        return next((i for i in self.instances if i.id == instance_id), None)

    def owners(self, keys: np.ndarray, rf: int) -> np.ndarray:
        """Indices into `instances` of the `rf` distinct instances met walking clockwise
        from each key (a key equal to a token belongs to that token's instance); shape
        (len(keys), min(rf, len(instances))). Unhealthy instances included: the caller
        decides what they mean (Mimir's replication set)."""
        rf = min(rf, len(self.instances))
        tokens, table = self._table(rf)
        if len(tokens) == 0:
            return np.zeros((len(keys), 0), np.int32)
        pos = np.searchsorted(tokens, np.asarray(keys, np.uint32), side="left") % len(tokens)
        return table[pos]

    def owner_of_string(self, s: str, rf: int) -> list[InstanceDesc]:
        idx = self.owners(np.array([string_token(s)], np.uint32), rf)[0]
        return [self.instances[i] for i in idx]

    def _table(self, rf: int) -> tuple[np.ndarray, np.ndarray]:
        """Sorted tokens, and for each token position the rf distinct instances from it
        clockwise: computed once per snapshot, so a lookup is one searchsorted."""
        cached = self._tables.get(rf)
        if cached is not None:
            return cached
        pairs = sorted((t, i) for i, inst in enumerate(self.instances) for t in inst.tokens)
        tokens = np.array([t for t, _ in pairs], np.uint32)
        owner = np.array([i for _, i in pairs], np.int32)
        n = len(tokens)
        table = np.zeros((n, rf), np.int32)
        if n:
            # Walk at most one full turn from each position; per-position loop is over
            # tokens (n_instances x 128), done once per ring change, not per key.
            doubled = np.concatenate([owner, owner])
            for p in range(n):
                seen: list[int] = []
                for o in doubled[p:p + n]:
                    if o not in seen:
                        seen.append(int(o))
                        if len(seen) == rf:
                            break
                table[p] = seen
        self._tables[rf] = (tokens, table)
        return tokens, table
