"""The queries to compare: the PromQL compliance list expanded with its variants, plus our own.

The compliance list (`promql-test-queries.yml`) and its variant values (`variants.yml`) live in
the shared conformance folder (`$MYTSDB_CONFORMANCE_DIR`, default `../shared/conformance`);
`load_queries` returns only the extras when it is absent. The extras cover what that list
leaves out and our data was built for: classic histograms, resets, gaps, staleness,
`offset`/`@`, subqueries, vector matching, set operators and Prometheus 2.x functions.
"""
from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE_DIR = Path(os.environ.get("MYTSDB_CONFORMANCE_DIR", ROOT.parent / "shared" / "conformance"))
COMPLIANCE = CONFORMANCE_DIR / "compliance"
TEMPLATE_VAR = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")


@dataclass(frozen=True)
class Query:
    text: str
    source: str  # "compliance" or "extra"
    should_fail: bool = False
    ordered: bool = False  # the answer's order is part of it (sort, sort_desc)


def expand(template: str, variant_args: list[str], variants: dict[str, list[str]]) -> list[str]:
    """Every combination of the named variants, the first name outermost (Go's expand order)."""
    if not variant_args:
        return [template]
    out = []
    for combo in itertools.product(*(variants[name] for name in variant_args)):
        values = dict(zip(variant_args, combo))
        out.append(TEMPLATE_VAR.sub(lambda m: values[m.group(1)], template))
    return out


def compliance_queries(folder: Path = COMPLIANCE) -> list[Query]:
    cases = yaml.safe_load((folder / "promql-test-queries.yml").read_text())["test_cases"]
    variants = yaml.safe_load((folder / "variants.yml").read_text())
    out = []
    for case in cases:
        for text in expand(case["query"], case.get("variant_args") or [], variants):
            out.append(Query(text, "compliance", bool(case.get("should_fail"))))
    return out


# Our own. `{{.name}}` expands with variants.yml values (or EXTRA_VARIANTS when that is absent).
EXTRA_VARIANTS = {"smoothingFactor": ["0.1", "0.5", "0.8"], "trendFactor": ["0.1", "0.5", "0.8"]}
CPU = "demo_cpu_usage_seconds_total"
BUCKET = "demo_api_request_duration_seconds_bucket"
EXTRAS: list[tuple[str, list[str]] | str] = [
    # Classic histograms.
    f"histogram_quantile(0.9, sum by (le) (rate({BUCKET}[5m])))",
    f"histogram_quantile(0.5, sum by (le, method, path) (rate({BUCKET}[10m])))",
    f"histogram_quantile(0.99, {BUCKET})",
    f'histogram_quantile(0.75, sum without (instance) (rate({BUCKET}{{path="/api/bar"}}[2m])))',
    f'histogram_quantile(0.5, rate({BUCKET}{{status="500"}}[1m]))',
    "rate(demo_api_request_duration_seconds_sum[5m]) / rate(demo_api_request_duration_seconds_count[5m])",
    "sum by (status) (increase(demo_api_request_duration_seconds_count[15m]))",
    f'increase({BUCKET}{{le="+Inf"}}[10m])',
    "irate(demo_api_request_duration_seconds_count[1m])",
    # Counter resets.
    "resets(demo_api_request_duration_seconds_count[1h])",
    f'increase({CPU}{{instance="demo.promlabs.com:10001"}}[30m])',
    f"rate({CPU}[90s])",
    f"sum by (mode) (rate({CPU}[5m]))",
    "rate(demo_memory_usage_bytes[5m])",
    f"avg_over_time({CPU}[1h])",
    # Gaps, staleness, series that are born and die.
    "demo_num_cpus",
    "count_over_time(demo_num_cpus[10m])",
    "changes(demo_num_cpus[1h])",
    "demo_disk_usage_bytes",
    "demo_disk_usage_bytes / demo_disk_total_bytes",
    "last_over_time(demo_intermittent_metric[10m])",
    "present_over_time(demo_intermittent_metric[5m])",
    "absent_over_time(demo_intermittent_metric[2m])",
    "absent_over_time(nonexistent_metric[5m])",
    "timestamp(demo_intermittent_metric)",
    "changes(demo_intermittent_metric[15m])",
    "count by (instance) (demo_memory_usage_bytes)",
    'demo_memory_usage_bytes{type="cached"}',
    'max_over_time(demo_memory_usage_bytes{type="cached"}[5m])',
    "stddev_over_time(demo_memory_usage_bytes[10m])",
    "quantile_over_time(0.5, demo_num_cpus[10m])",
    # offset and @.
    "demo_memory_usage_bytes offset 1h",
    f"rate({CPU}[5m] offset 30m)",
    "demo_num_cpus @ 1704070800",
    "demo_num_cpus @ start()",
    f"rate({CPU}[5m] @ end())",
    "sum_over_time(demo_num_cpus[10m] @ 1704072000 offset 5m)",
    "demo_memory_usage_bytes @ 1704070800.5 offset -10m",
    "sum(demo_memory_usage_bytes) / sum(demo_memory_usage_bytes offset 1h)",
    # Subqueries.
    f"max_over_time(rate({CPU}[1m])[10m:1m])",
    "min_over_time(demo_memory_usage_bytes[30m:])",
    f"rate({CPU}[5m:30s])",
    "sum_over_time(sum(demo_num_cpus)[15m:45s] offset 2m)",
    "deriv(demo_disk_usage_bytes[20m:1m])",
    f"max_over_time(deriv(rate({CPU}[2m])[5m:1m])[10m:])",
    "last_over_time(demo_intermittent_metric[7m:20s])",
    # Vector matching.
    f"{CPU} / ignoring(mode) group_left demo_num_cpus",
    f"rate({CPU}[5m]) / on(instance, job) group_left demo_num_cpus",
    f"demo_num_cpus * on(instance, job) group_right {CPU}",
    "demo_memory_usage_bytes > on(instance, job) group_left demo_disk_usage_bytes / 10",
    f"demo_memory_usage_bytes + on(instance) {CPU}",  # many-to-many: error
    f"{CPU} * on(instance) group_left demo_memory_usage_bytes",  # not unique: error
    '{__name__=~"demo_(num_cpus|disk_total_bytes)"} * 2',  # same labels once the name goes: error
    '{__name__=~"demo_memory.*"}',
    # Set operators.
    'demo_memory_usage_bytes{type="free"} or demo_memory_usage_bytes{type="used"}',
    "demo_memory_usage_bytes and demo_memory_usage_bytes > 1e9",
    "demo_memory_usage_bytes unless on(instance) demo_intermittent_metric",
    "demo_num_cpus and on(instance) demo_intermittent_metric",
    "demo_intermittent_metric or vector(0)",
    "(demo_memory_usage_bytes > 2e9) or on(type) demo_memory_usage_bytes",
    # label_replace / label_join.
    f'label_replace(rate({CPU}[5m]), "host", "$1", "instance", "(.*):.*")',
    'sum by (host) (label_replace(demo_memory_usage_bytes, "host", "$1", "instance", "(.*):([0-9]+)"))',
    'label_join(demo_memory_usage_bytes, "id", "/", "instance", "type", "nonexistent")',
    # absent.
    'absent(demo_memory_usage_bytes{instance="nonexistent"})',
    'absent(nonexistent_metric{job="a", instance=~"x"})',
    "absent(sum(nonexistent_metric))",
    "absent(demo_intermittent_metric)",
    # topk / bottomk / count_values / quantile.
    f"topk(1, {CPU})",
    f"bottomk(2, rate({CPU}[5m]))",
    "topk by (instance) (1, demo_memory_usage_bytes)",
    f'topk(scalar(demo_num_cpus{{instance="demo.promlabs.com:10000"}}), {CPU})',
    "count_values(\"cpus\", demo_num_cpus)",
    'count_values by (instance) ("n", count by (instance, type) (demo_memory_usage_bytes))',
    "quantile by (instance) (0.5, demo_memory_usage_bytes)",
    "group by (instance) (demo_memory_usage_bytes)",
    "count(count by (mode) (demo_cpu_usage_seconds_total))",
    # Date functions.
    "hour(demo_batch_last_success_timestamp_seconds)",
    "day_of_year()",
    "day_of_year(demo_batch_last_success_timestamp_seconds)",
    "minute(vector(1704067200))",
    "days_in_month(vector(1706745600))",
    "time() - demo_batch_last_success_timestamp_seconds",
    "timestamp(demo_num_cpus offset 1m)",
    # Prediction and smoothing (holt_winters is Prometheus 2.x).
    "predict_linear(demo_disk_usage_bytes[30m], 3600)",
    "predict_linear(demo_memory_usage_bytes[5m:30s], 600)",
    ("holt_winters(demo_disk_usage_bytes[10m], {{.smoothingFactor}}, {{.trendFactor}})",
     ["smoothingFactor", "trendFactor"]),
    "holt_winters(demo_memory_usage_bytes[5m], 0.3, 0.7)",
    # Other functions and operators.
    "sort(demo_num_cpus)",
    "sort_desc(sum by (instance) (demo_memory_usage_bytes))",
    "scalar(demo_num_cpus)",
    "scalar(sum(demo_num_cpus))",
    "sgn(deriv(demo_disk_usage_bytes[10m]))",
    "-demo_num_cpus ^ 2",
    "demo_num_cpus atan2 demo_num_cpus",
    "sin(demo_num_cpus) + cos(demo_num_cpus) + rad(demo_num_cpus)",
    "demo_memory_usage_bytes == bool demo_memory_usage_bytes",
    "demo_num_cpus[5m]",  # a range vector: fine for an instant query, an error for a range query
    '"a string"',
]
EXTRA_SHOULD_FAIL = ["rate(demo_num_cpus)", "sum(demo_num_cpus[5m])", "demo_num_cpus{", "label_replace(demo_num_cpus)"]


def extra_queries(variants: dict[str, list[str]] | None = None) -> list[Query]:
    variants = variants or EXTRA_VARIANTS
    out = []
    for item in EXTRAS:
        template, args = (item, []) if isinstance(item, str) else item
        for text in expand(template, args, variants):
            out.append(Query(text, "extra", ordered=text.startswith("sort")))
    out += [Query(text, "extra", should_fail=True) for text in EXTRA_SHOULD_FAIL]
    return out


def load_queries() -> list[Query]:
    """Compliance queries (when the shared folder is there) then extras, without duplicates."""
    out: list[Query] = []
    if (COMPLIANCE / "promql-test-queries.yml").exists():
        out += compliance_queries()
        variants = yaml.safe_load((COMPLIANCE / "variants.yml").read_text())
    else:
        variants = EXTRA_VARIANTS
    out += extra_queries(variants)
    seen: set[str] = set()
    return [q for q in out if not (q.text in seen or seen.add(q.text))]
