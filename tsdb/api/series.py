"""Prometheus' metadata read API: `/api/v1/series`, `/api/v1/labels`,
`/api/v1/label/<name>/values`, over head plus bucket."""
from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import Response

import promql
from tsdb.api.common import run_for_tenant, APIError, parse_limit, success, time_range
from tsdb.labelsets import to_dicts
from tsdb.reader import SeriesReader

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _matcher_sets(p: dict[str, list[str]]) -> list:
    sets = []
    for text in p.get("match[]", []):
        try:
            sets.append(promql.parse_series_selector(text).matchers)
        except promql.ParseError as e:
            raise APIError("bad_data", str(e)) from None
    return sets


def _truncate(items: list, limit: int) -> tuple[list, list[str] | None]:
    if limit and len(items) > limit:
        return items[:limit], ["results truncated due to limit"]
    return items, None


def make_series_handlers(reader: SeriesReader, multitenancy_enabled: bool):
    async def _run(request: Request, work) -> Response:
        return await run_for_tenant(request, multitenancy_enabled, lambda tenant, p: success(*work(tenant, p)))

    async def series(request: Request) -> Response:
        def work(tenant, p):
            sets = _matcher_sets(p)
            if not sets:
                raise APIError("bad_data", "no match[] parameter provided")
            start, end = time_range(p)
            table = reader.select(tenant, sets, start, end)
            return _truncate(to_dicts(table.column("labels")), parse_limit(p))
        return await _run(request, work)

    async def labels(request: Request) -> Response:
        def work(tenant, p):
            start, end = time_range(p)
            return _truncate(reader.label_names(tenant, _matcher_sets(p), start, end), parse_limit(p))
        return await _run(request, work)

    async def label_values(request: Request) -> Response:
        name = request.path_params["name"]

        def work(tenant, p):
            if not _LABEL_NAME.match(name):
                raise APIError("bad_data", f'invalid label name: "{name}"')
            start, end = time_range(p)
            return _truncate(reader.label_values(tenant, name, _matcher_sets(p), start, end), parse_limit(p))
        return await _run(request, work)

    return series, labels, label_values

