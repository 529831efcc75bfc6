"""Formulas over atomic concepts: left-deep chains ``((a OP b) OP c) ...`` with OP in AND, OR, AND NOT.

The beam search of Mu & Andreas (2020) only ever extends a formula on the right by one atom, so every formula
it finds is a left-deep chain: an atom followed by ``(operator, atom)`` steps. :class:`Formula` stores exactly
that, renders it as text and evaluates it on boolean row masks (the direct set computation the packed search
is tested against).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from neuronlab.errors import InvalidParameterError, choices

__all__ = ["Formula", "OPERATORS"]

#: operator -> (text, fn(left bool mask, atom bool mask) -> bool mask)
OPERATORS: dict[str, tuple[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]] = {
    "or": ("OR", lambda f, a: f | a),
    "and": ("AND", lambda f, a: f & a),
    "and_not": ("AND NOT", lambda f, a: f & ~a),
}


def check_operators(operators) -> tuple[str, ...]:
    """The operator names, checked against :data:`OPERATORS`."""
    ops = tuple(operators)
    bad = [o for o in ops if o not in OPERATORS]
    if bad or not ops or len(set(ops)) != len(ops):
        raise InvalidParameterError(f"operators must be distinct names from {choices(OPERATORS)}; got {list(ops)}")
    return ops


@dataclass(frozen=True)
class Formula:
    """A left-deep formula: ``first``, then each ``(operator, atom)`` of ``steps`` applied in turn.

    Atoms are integer ids (see :class:`~neuronlab.concepts.compositional.atoms.Atoms`).

    Examples
    --------
    >>> f = Formula(0).extend("or", 1).extend("and_not", 2)
    >>> f.render(lambda a: ["word=a", "word=b", "upos=X"][a]), len(f)
    ('(word=a OR word=b) AND NOT upos=X', 3)
    >>> rows = {0: np.array([1, 0, 0, 1], bool), 1: np.array([0, 1, 0, 0], bool), 2: np.array([0, 0, 0, 1], bool)}
    >>> f.evaluate(rows.__getitem__).tolist()
    [True, True, False, False]
    """

    first: int
    steps: tuple = ()

    def __len__(self) -> int:
        return 1 + len(self.steps)

    @property
    def atoms(self) -> tuple[int, ...]:
        return (self.first,) + tuple(a for _, a in self.steps)

    def extend(self, operator: str, atom: int) -> "Formula":
        if operator not in OPERATORS:
            raise InvalidParameterError(f"operator {operator!r} is unknown; choose one of {choices(OPERATORS)}")
        return Formula(self.first, self.steps + ((operator, int(atom)),))

    def render(self, name: Callable[[int], str]) -> str:
        """Text of the formula, atoms named by ``name(atom_id)``; a compound left side is parenthesised unless it
        ends with the same associative operator (``a OR b OR c``)."""
        text = name(self.first)
        previous = None
        for operator, atom in self.steps:
            if previous is not None and not (previous == operator and operator in ("or", "and")):
                text = f"({text})"
            text = f"{text} {OPERATORS[operator][0]} {name(atom)}"
            previous = operator
        return text

    def evaluate(self, mask: Callable[[int], np.ndarray]) -> np.ndarray:
        """Boolean row mask of the formula, given ``mask(atom_id)`` for its atoms."""
        out = np.asarray(mask(self.first), dtype=bool)
        for operator, atom in self.steps:
            out = OPERATORS[operator][1](out, np.asarray(mask(atom), dtype=bool))
        return out

    def to_list(self) -> list:
        """JSON form: ``[first, [operator, atom], ...]``."""
        return [int(self.first)] + [[op, int(a)] for op, a in self.steps]
