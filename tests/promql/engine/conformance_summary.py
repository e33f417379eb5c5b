"""The one-line conformance summary printed at the end of a pytest run."""
from __future__ import annotations

import pytest

CONFORMANCE_KEY = pytest.StashKey[dict]()


def summary_line(summary: dict) -> str:
    v2 = summary.get("v2", {})
    v3 = summary.get("v3", {})
    from collections import Counter

    counts = Counter(v3.get("skip_reasons", []))
    reasons = [f"{reason} {n}" for reason, n in counts.most_common()]
    return (f"engine conformance: v2 {v2.get('passed', 0)}/{v2.get('total', 0)} passed; "
            f"v3 {v3.get('passed', 0)}/{v3.get('total', 0) - v3.get('skipped', 0)} passed, "
            f"{v3.get('skipped', 0)} skipped ({'; '.join(reasons)})")
