"""Quadrature rules on [0, 1] for path integrals, as a registry; every rule's weights sum to one.

A rule with ``steps`` nodes ``t_i`` and weights ``w_i`` approximates ``int_0^1 f(a) da`` by
``sum_i w_i f(t_i)``. Integrated gradients use it directly. Conductance (a Stieltjes integral
``int g dy``) uses it through the *breakpoints* ``a_0 = 0, a_i = w_0 + ... + w_{i-1}, a_steps = 1``: because
the weights sum to one, the segments ``[a_i, a_{i+1}]`` tile [0, 1] with both endpoints included, each
node lies in its segment (for Gauss-Legendre by the Chebyshev-Markov-Stieltjes separation theorem),
and ``sum_i g(t_i) (y(a_{i+1}) - y(a_i))`` telescopes to ``y(1) - y(0)``.

=================== ============================== =====================================================
rule                nodes                          weights
=================== ============================== =====================================================
``riemann_left``    ``i / m``                      ``1 / m``
``riemann_right``   ``(i + 1) / m``                ``1 / m``
``riemann_middle``  ``(i + 1/2) / m``              ``1 / m``
``trapezoid``       ``i / (m - 1)``                ``1 / (m - 1)``, halved at both ends
``gausslegendre``   Gauss-Legendre nodes on [0,1]  Gauss-Legendre weights / 2
=================== ============================== =====================================================

Captum's ``riemann_trapezoid`` uses the trapezoid nodes with weights ``1/m`` halved at the ends, which
sum to ``1 - 1/m``: its integrated gradients are ours times ``(m - 1) / m``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InvalidParameterError, choices

__all__ = ["Rule", "RULES", "register_rule", "get_rule"]


@dataclass(frozen=True)
class Rule:
    """Nodes, weights and segment breakpoints of a quadrature rule on [0, 1]."""

    name: str
    nodes: np.ndarray
    weights: np.ndarray

    @property
    def breakpoints(self) -> np.ndarray:
        """``steps + 1`` points from 0 to 1: segment i is ``[breakpoints[i], breakpoints[i + 1]]``."""
        b = np.concatenate([[0.0], np.cumsum(self.weights)])
        b[-1] = 1.0
        return b

    @property
    def steps(self) -> int:
        return len(self.nodes)


def _left(m):
    return np.arange(m) / m, np.full(m, 1.0 / m)


def _right(m):
    return np.arange(1, m + 1) / m, np.full(m, 1.0 / m)


def _middle(m):
    return (np.arange(m) + 0.5) / m, np.full(m, 1.0 / m)


def _trapezoid(m):
    if m < 2:
        raise InvalidParameterError("steps: the trapezoid rule needs at least 2 steps")
    w = np.full(m, 1.0 / (m - 1))
    w[[0, -1]] /= 2
    return np.linspace(0.0, 1.0, m), w


def _gauss_legendre(m):
    x, w = np.polynomial.legendre.leggauss(m)
    return (x + 1) / 2, w / 2


#: name -> fn(steps) -> (nodes, weights)
RULES: dict[str, Callable] = {
    "riemann_left": _left,
    "riemann_right": _right,
    "riemann_middle": _middle,
    "trapezoid": _trapezoid,
    "gausslegendre": _gauss_legendre,
}


def register_rule(name: str, fn: Callable) -> None:
    """Add a rule ``fn(steps) -> (nodes, weights)`` (nodes in [0, 1], weights summing to one)."""
    RULES[name] = fn


def get_rule(name: str, steps: int) -> Rule:
    """The rule ``name`` with ``steps`` nodes.

    Raises
    ------
    InvalidParameterError
        If the rule is unknown or ``steps`` is not a positive int.
    """
    if name not in RULES:
        raise InvalidParameterError(f"rule {name!r} is unknown; choose one of {choices(RULES)}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise InvalidParameterError(f"steps must be a positive int, got {steps!r}")
    nodes, weights = RULES[name](int(steps))
    return Rule(name, np.asarray(nodes, dtype=np.float64), np.asarray(weights, dtype=np.float64))
