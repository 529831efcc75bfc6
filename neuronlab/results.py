"""Typed analysis results: one way to serialise to JSON and one way to write into and read from a store.

Every analysis that reports something (a probe, a ranking; later attributions, explanations, report
sections) returns a dataclass deriving from :class:`Result`:

- its fields, in order, are the JSON report (:meth:`Result.to_dict`, :meth:`Result.to_json`); fields
  marked ``array_field()`` hold arrays that go into the store but not into the JSON;
- :meth:`Result.to_store` writes :meth:`Result.arrays` under ``/results/<name>`` with the ``config``
  field and the result's ``kind``, plus the JSON report as a string dataset ``report``;
- :meth:`Result.from_store` reads it back into the same class (``from_store(...).to_dict()`` equals
  the ``to_dict()`` that was written).

Subclasses set ``kind`` and implement :meth:`Result.arrays`.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar, Mapping

import numpy as np

from neuronlab.errors import InvalidParameterError, StoreError

__all__ = ["Result", "array_field", "json_default"]

#: name of the dataset holding the JSON report next to a result's arrays
REPORT_DATASET = "report"


def array_field(**kwargs: Any) -> Any:
    """A dataclass field that is stored as an array and left out of the JSON report."""
    return dataclasses.field(repr=False, compare=False, metadata={"array": True}, **kwargs)


def json_default(o: Any) -> Any:
    """``json.dumps`` fallback: numpy scalars and arrays as Python values, anything else as ``str``."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


@dataclasses.dataclass
class Result:
    """Base class of analysis results (see the module docstring for the protocol)."""

    kind: ClassVar[str] = "result"

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        """The JSON report: every non-array field, in declaration order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if not f.metadata.get("array")}

    def to_json(self, *, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text (numpy values converted)."""
        return json.dumps(self.to_dict(), indent=indent, default=json_default)

    # ------------------------------------------------------------------ store
    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays written under ``/results/<name>``."""
        raise NotImplementedError

    @property
    def store_config(self) -> Mapping[str, Any]:
        """The configuration stored as the result's ``config`` attribute (the ``config`` field)."""
        return getattr(self, "config", {})

    def to_store(self, store: Any, name: str) -> str:
        """Write into an :class:`~neuronlab.store.ActivationStore` opened for writing; returns the HDF5 path."""
        arrays = dict(self.arrays())
        arrays[REPORT_DATASET] = np.array(self.to_json(indent=None), dtype=object)
        return store.write_result(name, arrays, config=self.store_config, kind=self.kind)

    @classmethod
    def from_store(cls, store: Any, name: str) -> "Result":
        """Read a result written by :meth:`to_store` (``store.read_result(name)``) back into ``cls``."""
        stored = store.read_result(name)
        if stored["kind"] != cls.kind:
            raise InvalidParameterError(
                f"result {name!r} is a {stored['kind']!r} result, not a {cls.kind!r} one; read it with the matching "
                "result class"
            )
        text = stored.get(REPORT_DATASET)
        if text is None:
            raise StoreError(
                f"result {name!r} has no {REPORT_DATASET!r} dataset (written by an older neuronlab); run the analysis "
                "again to read it as an object, or read its arrays with store.read_result(name)"
            )
        report = json.loads(text.decode("utf-8") if isinstance(text, bytes) else str(text))
        arrays = {f.name: stored.get(f.name) for f in dataclasses.fields(cls) if f.metadata.get("array")}
        return cls._from_parts(report, arrays)

    @classmethod
    def _from_parts(cls, report: dict, arrays: dict) -> "Result":
        """Build from the JSON report and the stored arrays (override to convert types)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in report.items() if k in names}, **{k: v for k, v in arrays.items()
                                                                          if v is not None})
