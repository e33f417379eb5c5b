"""The compaction section of `bench/results/latest.md` (`python -m bench.run --only compaction`)."""
from __future__ import annotations


def _goal(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _columns(l2: dict, n: int) -> str:
    """Bytes/sample per column group of the L2 file: what the size is made of."""
    cols = l2.get("columns", {})
    fixed = {"value": "value", "timestamp": "timestamp", "series_id": "series_id"}
    labels_map = sum(v for k, v in cols.items() if k.startswith("labels."))
    extra = {"(page index, bloom filters)", "(footer)", "metric"}
    label_cols = sum(v for k, v in cols.items() if k not in fixed and not k.startswith("labels.") and k not in extra)
    parts = [f"{name} {cols.get(col, 0) / n:.3f}" for col, name in fixed.items()]
    parts += [f"`labels` map {labels_map / n:.3f}", f"metric + label columns {(cols.get('metric', 0) + label_cols) / n:.3f}",
              f"page index + bloom filters {cols.get('(page index, bloom filters)', 0) / n:.3f}",
              f"footer {cols.get('(footer)', 0) / n:.3f}"]
    return ", ".join(parts)


def _size(r: dict) -> tuple[list[str], list[str]]:
    c, m, p = r["config"], r["mytsdb"], r["prometheus"]
    n = c["samples"]
    l0, l2, block = m["l0"], m["l2"], p["block"]
    lines = ["| compaction benchmark | MyTSDB | Prometheus | MyTSDB / Prometheus | goal |", "|---|---:|---:|---:|---|",
             f"| disk after compaction, bytes/sample ({c['hours']} h at 15 s, {c['series']:,} series, {n / 1e6:g}M "
             f"samples: {l2['files']} L2 file against one {block['hours']:g} h block; with series sidecars) "
             f"| {l2['bytes_per_sample']:.3f} ({l2['bytes_per_sample_with_sidecars']:.3f}) | {block['bytes_per_sample']:.3f} "
             f"| {r['ratio']:.2f} ({r['ratio_with_sidecars']:.2f}) | ≤ 0.7: {_goal(r['ratio'] <= 0.7)} |"]
    if "block_2h" in p:
        b2 = p["block_2h"]
        lines.append(f"| the same data as flushed, bytes/sample ({l0['files']} L0 files; Prometheus: a 2 h block of the "
                     f"same series) | {l0['bytes_per_sample']:.3f} | {b2['bytes_per_sample']:.3f} "
                     f"| {l0['bytes_per_sample'] / b2['bytes_per_sample']:.2f} | — |")
    notes = [f"Compacted size: the L2 file in the manifest after `mytsdb compact --once` ({l2['row_groups']} row groups), "
             f"per column: {_columns(l2, n)}. Prometheus: its own compaction of the span's 2 h blocks into 6 h and "
             f"one 18 h block (level {block['level']}, {block['chunks']:,} chunks), `chunks/` "
             f"{block['chunks_bytes_per_sample']:.3f} + `index` {block['index_bytes'] / n:.3f} bytes/sample. "
             "Node-exporter-like data (the disk bench's), loaded by remote write."]
    return lines, notes


def _compactor(r: dict) -> tuple[list[str], list[str]]:
    c, big, small, idle = r["config"], r["mytsdb"], r["scale"], r["idle"]
    n_big, n_small = big["compaction"]["rows_read"], small["compaction"]["rows_read"]
    head = (f"| `mytsdb compact --once`, {c['hours']} h day, median of {c['runs']} "
            f"| 1×: {c['scale_series']:,} series, {n_small / 1e6:g}M samples "
            f"| 4×: {c['series']:,} series, {n_big / 1e6:g}M samples |")
    lines = [head, "|---|---:|---:|"]
    for key, batch in (("compaction", "1 Mi (default)"), ("compaction_other_batch", "4 Mi")):
        a, b = small[key], big[key]
        lines.append(f"| `merge_batch_samples` {batch}: samples/s (min–max) | {a['samples_per_second']:,} "
                     f"({a['samples_per_second_range'][0] / 1e6:.2f}M–{a['samples_per_second_range'][1] / 1e6:.2f}M) "
                     f"| {b['samples_per_second']:,} ({b['samples_per_second_range'][0] / 1e6:.2f}M–"
                     f"{b['samples_per_second_range'][1] / 1e6:.2f}M) |")
        lines.append(f"| `merge_batch_samples` {batch}: peak RSS, MB (min–max) | {a['peak_rss_mb']:,.0f} "
                     f"({a['peak_rss_mb_range'][0]:,.0f}–{a['peak_rss_mb_range'][1]:,.0f}) | {b['peak_rss_mb']:,.0f} "
                     f"({b['peak_rss_mb_range'][0]:,.0f}–{b['peak_rss_mb_range'][1]:,.0f}) |")
    d = big["compaction"]
    growth = r.get("rss_growth", {})
    other = max(x["other_cpu_cores_before"] for s in (big, small) for k in ("compaction", "compaction_other_batch")
                for x in s[k]["runs"])
    notes = [f"Compactor: a separate process on the L0 bucket (each run on a fresh copy of it): {d['files_in']} L0 files "
             f"→ {d['files_out']} L2 file; samples/s over the pass time it reports ({d['pass_seconds']:.1f} s of "
             f"{d['wall_seconds']:.1f} s wall, {d['cpu_seconds']:.1f} CPU-s at 4×); peak RSS is its VmHWM; an idle "
             f"`mytsdb compact --once` (empty bucket) peaks at {idle['peak_rss_mb']:.0f} MB. Above that, 4× the data "
             f"took {growth.get('compaction', 0):.2f}× the memory at the default batch and "
             f"{growth.get('compaction_other_batch', 0):.2f}× at 4 Mi. Other processes kept up to {other:.2f} cores "
             "busy just before a run."]
    return lines, notes


def _queries(q: dict) -> tuple[list[str], list[str]]:
    c = q["config"]
    lines = [f"| query ({c['hours']} h of {c['series']:,} series, step {c['query_step_s']} s), median s "
             f"(peak RSS MB) | L0 ({q['l0']['files']} files) | compacted ({q['l2']['files']} L2 file) | compacted / L0 |",
             "|---|---:|---:|---:|"]
    for row in q["queries"]:
        same = "" if row["check"]["equal"] else " (**answers differ**)"
        lines.append(f"| `{row['query'].replace('|', '&#124;')}`{same} | {row['l0']['median_s']:.3f} "
                     f"({row['l0']['peak_rss_mb']:,.0f}) | {row['l2']['median_s']:.3f} ({row['l2']['peak_rss_mb']:,.0f}) "
                     f"| {row['ratio']:.2f} |")
    equal = all(r["check"]["equal"] for r in q["queries"])
    points = sum(r["check"]["points_compared"] for r in q["queries"])
    notes = [f"Queries: `mytsdb all` with the query bench's data ({q['config']['samples'] / 1e6:g}M samples) in a closed "
             f"day, flushed per 2 h of data; {c['warmup']} warm-up + {c['runs']} runs per query, median; then "
             f"`mytsdb compact --once` with the server up ({q['compaction']['pass_seconds']:.1f} s) and the same queries. "
             + (f"Every answer equal point by point before and after ({points:,} points)." if equal
                else "**Some answers differ** after compaction (see latest.json).")]
    return lines, notes


def markdown(r: dict) -> str:
    out: list[str] = []
    notes: list[str] = []
    if "size" in r:
        for part in (_size, _compactor):
            lines, more = part(r["size"])
            out += lines + [""]
            notes += more
    if "queries" in r:
        lines, more = _queries(r["queries"])
        out += lines + [""]
        notes += more
    for name, err in r.get("errors", {}).items():
        notes.append(f"**{name} failed**: {err}")
    return "\n".join(out + [f"- {n}" for n in notes]) + "\n"
