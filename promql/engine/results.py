"""Query results as the API returns them: typed, sorted, with annotations."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class VectorSample:
    labels: dict[str, str]
    t_ms: int
    value: float


@dataclass
class MatrixSeries:
    labels: dict[str, str]
    timestamps: np.ndarray  # int64 ms
    values: np.ndarray      # float64


@dataclass
class QueryResult:
    result_type: str  # 'scalar' | 'string' | 'vector' | 'matrix'
    scalar: tuple[int, float] | None = None
    string: tuple[int, str] | None = None
    vector: list[VectorSample] = field(default_factory=list)
    matrix: list[MatrixSeries] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
