"""The typed result of ``neuronlab stats``: per-neuron moments and quantiles, written into the store."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from neuronlab.results import Result, array_field

__all__ = ["NeuronStatsResult"]


@dataclasses.dataclass
class NeuronStatsResult(Result):
    """Per-neuron mean, standard deviation and exact quantiles of a store's activations.

    The JSON report holds the configuration, the dead (constant) neurons and the per-neuron values; the store gets
    the same values as arrays (``mean``, ``std``, ``quantiles`` of shape ``(n_quantiles, n_neurons)``,
    ``quantile_levels``) under ``/results/<name>`` with the configuration as its ``config``.

    Examples
    --------
    >>> r = NeuronStatsResult(store="s.h5", n_rows=3, n_neurons=2, config={"sites": None},
    ...                       dead_neurons=["b:1"], neurons=["a:0", "b:1"], mean=[0.5, 1.0], std=[0.5, 0.0],
    ...                       quantiles={"0.5": [0.5, 1.0]})
    >>> r.arrays()["quantiles"].shape
    (1, 2)
    """

    kind: ClassVar[str] = "neuron_stats"

    store: str
    n_rows: int
    n_neurons: int
    config: dict
    dead_neurons: list
    neurons: list
    mean: list
    std: list
    quantiles: dict
    seconds: float | None = None
    result_path: str | None = None
    _arrays: dict = array_field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        levels = sorted(self.quantiles, key=float)
        q = np.array([self.quantiles[k] for k in levels], dtype=np.float64).reshape(len(levels), self.n_neurons)
        return {"mean": np.asarray(self.mean, dtype=np.float64), "std": np.asarray(self.std, dtype=np.float64),
                "quantile_levels": np.array([float(k) for k in levels]), "quantiles": q}

    @classmethod
    def _from_parts(cls, report: dict, arrays: dict) -> "NeuronStatsResult":
        names = {f.name for f in dataclasses.fields(cls)} - {"_arrays"}
        return cls(**{k: v for k, v in report.items() if k in names})

    @property
    def store_config(self) -> dict[str, Any]:
        return dict(self.config)
