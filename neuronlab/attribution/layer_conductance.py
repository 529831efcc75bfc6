"""Layer conductance: how much of the prediction flows through each neuron of a site (Dhamdhere et al., 2018)."""
from __future__ import annotations

from ..errors import InvalidParameterError, choices
from ..models.live import LiveModel
from ._path import base_config, input_values, np32, path_values, rows_per_pass
from .quadrature import get_rule
from .result import AttributionResult

__all__ = ["LayerConductance", "DERIVATIVES"]

#: how dy/da along the path is obtained: ``difference`` (site values at the segment breakpoints; the
#: Stieltjes sum telescopes, as in Captum) or ``exact`` (forward-mode AD at the nodes; then any rule,
#: Gauss-Legendre included, integrates dF/da to its own order)
DERIVATIVES = ("difference", "exact")


class LayerConductance:
    """Conductance of every neuron (and token position) of a site, in one call.

    Along the straight path ``x(a) = b + a (x - b)`` at the input site (the embedding output by
    default), the conductance of neuron ``j`` of the site's value ``y`` is

    .. math:: \\mathrm{Cond}_j = \\int_0^1 \\frac{\\partial F}{\\partial y_j}(x(a)) \\, \\frac{d y_j(x(a))}{da} \\, da

    computed as the Stieltjes sum ``sum_i dF/dy_j(t_i) * (y_j(a_{i+1}) - y_j(a_i))`` over the rule's nodes
    ``t_i`` and segment breakpoints ``a_i`` (see :mod:`~neuronlab.attribution.quadrature`). The
    breakpoints include 0 and 1, so for a site every path from input to output crosses (a block output
    ``layers.L``) the sum over neurons and positions telescopes towards ``F(x) - F(b)`` (completeness);
    the remainder is reported as the convergence delta.

    Parameters
    ----------
    live : LiveModel
    site : str
        The attributed site (``layers.3``, ``layers.3.mlp``, ...).
    rule : str, default "gausslegendre"
        A key of :data:`~neuronlab.attribution.quadrature.RULES`.
    steps : int, default 50
    input_site : str, default "embeddings"
        Where the path is interpolated.
    derivative : {"exact", "difference"}, default "exact"
        ``exact``: ``sum_i w_i dF/dy(t_i) dy/da(t_i)`` with ``dy/da`` by forward-mode AD, so the rule's own
        order applies (Gauss-Legendre, 50 steps: relative delta about 1e-6 on minilm). ``difference``: the
        Stieltjes sum below (second order at best; Captum's scheme).
    memory_mb : float, default 1024
        Bound on the activations kept for one forward/backward pass; sets how many (example, step)
        rows run together.
    batch_size : int, optional
        Rows per pass, overriding ``memory_mb``.

    See Also
    --------
    NeuronConductance, LayerIntegratedGradients

    References
    ----------
    Dhamdhere, Sundararajan & Yan (2018). How important is a neuron? arXiv:1805.12233 (ICLR 2019).

    Notes
    -----
    With ``derivative="difference"``, ``rule="riemann_left"`` and ``steps=m`` this is Captum's ``LayerConductance`` with
    ``method="riemann_trapezoid"`` and ``n_steps=m`` (the only Captum rule whose conductance grid
    contains both endpoints). Rules whose nodes are not breakpoints (middle, trapezoid, Gauss-Legendre)
    need the site's value at the breakpoints too: ``steps + 1`` extra forward passes up to the site,
    without gradients.

    Examples
    --------
    >>> lc = LayerConductance(live, "layers.3", steps=50)                # doctest: +SKIP
    >>> res = lc.attribute(["a fine film"], target=1)                   # doctest: +SKIP
    >>> res.per_neuron().shape, float(res.relative_delta()[0]) < 1e-3   # doctest: +SKIP
    ((1, 384), True)
    """

    name = "layer_conductance"

    def __init__(self, live: LiveModel, site: str, *, rule: str = "gausslegendre", steps: int = 50,
                 input_site: str = "embeddings", derivative: str = "exact", memory_mb: float = 1024,
                 batch_size: int | None = None):
        self.live = live
        self.site = live.site(site)
        self.rule = rule
        self.steps = steps
        self.input_site = live.site(input_site)
        self.memory_mb = memory_mb
        self.batch_size = batch_size
        self.derivative = derivative
        if derivative not in DERIVATIVES:
            raise InvalidParameterError(f"derivative {derivative!r} is unknown; choose one of {choices(DERIVATIVES)}")
        get_rule(rule, steps)

    def attribute(self, inputs, *, target, baselines="pad") -> AttributionResult:
        """Conductance of every neuron of the site at every token position.

        Parameters
        ----------
        inputs : list of str, list of list of str, or Encoded
        target : Target or int
            The explained scalar (an int is that class's logit).
        baselines : {"pad", "zero"} or tensor
            The path's start at the input site.

        Returns
        -------
        AttributionResult
            ``attributions`` of shape (n_examples, n_tokens, width).
        """
        import torch

        live = self.live
        enc = live.encode(inputs)
        resolved = live.resolve_target(enc, target)
        rule = get_rule(self.rule, self.steps)
        x, b = input_values(live, enc, self.input_site, baselines)
        if self.derivative == "exact":
            return self._exact(enc, resolved, rule, x, b, target, baselines)
        nodes, bps = rule.nodes, rule.breakpoints
        # every alpha evaluated once: nodes with gradients; breakpoints that are no node, values only
        node_set = {round(float(t), 12): i for i, t in enumerate(nodes)}
        extra = [float(a) for a in bps if round(float(a), 12) not in node_set]
        extra_idx = {round(a, 12): i for i, a in enumerate(extra)}
        rows = rows_per_pass(live, enc, memory_mb=self.memory_mb, batch_size=self.batch_size)
        n_points = len(nodes) + len(extra)
        group = max(1, rows // n_points)
        out, f_x, f_b = [], [], []
        for e0 in range(0, enc.n_examples, group):
            ex = list(range(e0, min(e0 + group, enc.n_examples)))
            y_n, g_n, f_n = path_values(live, enc, resolved, input_site=self.input_site, site=self.site, x=x, b=b,
                                        alphas=nodes, grad=True, rows_per=rows, examples=ex)
            if extra:
                y_e, _, f_e = path_values(live, enc, resolved, input_site=self.input_site, site=self.site, x=x, b=b,
                                          alphas=extra, grad=False, rows_per=rows, examples=ex)

            def at(a):
                k = round(float(a), 12)
                return (y_n[node_set[k]], f_n[node_set[k]]) if k in node_set else (y_e[extra_idx[k]], f_e[extra_idx[k]])

            ys = [at(a) for a in bps]
            cond = torch.zeros_like(y_n[0], dtype=torch.float64)
            for i in range(len(nodes)):
                cond += (g_n[i].double() * (ys[i + 1][0].double() - ys[i][0].double()))
            out.append(cond)
            f_x.append(ys[-1][1])
            f_b.append(ys[0][1])
        attr = torch.cat(out)
        attr = attr * enc.attention_mask.to(attr.device, attr.dtype)[:, :, None]
        return self._result(enc, attr, torch.cat(f_x), torch.cat(f_b), target, baselines, rows)

    def _exact(self, enc, resolved, rule, x, b, target, baselines):
        """``sum_i w_i dF/dy(t_i) * dy/da(t_i)`` with dy/da by forward-mode AD; F at 0 and 1 by two more passes."""
        import torch

        live = self.live
        rows = rows_per_pass(live, enc, memory_mb=self.memory_mb, batch_size=self.batch_size)
        n_points = rule.steps
        group = max(1, rows // n_points)
        w = torch.as_tensor(rule.weights, dtype=torch.float64)
        out, f_x, f_b = [], [], []
        for e0 in range(0, enc.n_examples, group):
            ex = list(range(e0, min(e0 + group, enc.n_examples)))
            _, g, _, dy = path_values(live, enc, resolved, input_site=self.input_site, site=self.site, x=x, b=b,
                                      alphas=rule.nodes, grad=True, rows_per=rows, examples=ex, tangent=True)
            out.append(torch.einsum("i,i...->...", w.to(g.device), g.double() * dy.double()))
            _, _, f_ends = path_values(live, enc, resolved, input_site=self.input_site, site=self.site, x=x, b=b,
                                       alphas=[0.0, 1.0], grad=False, rows_per=rows, examples=ex)
            f_b.append(f_ends[0])
            f_x.append(f_ends[1])
        attr = torch.cat(out)
        attr = attr * enc.attention_mask.to(attr.device, attr.dtype)[:, :, None]
        return self._result(enc, attr, torch.cat(f_x), torch.cat(f_b), target, baselines, rows)

    def _result(self, enc, attr, f_x, f_b, target, baselines, rows) -> AttributionResult:
        fx, fb = np32(f_x), np32(f_b)
        a = np32(attr)
        delta = a.sum(axis=(1, 2)) - (fx - fb)
        cfg = base_config(self.name, self.live, self.site, target, rule=self.rule, steps=self.steps,
                          derivative=self.derivative, input_site=self.input_site,
                          baselines=baselines if isinstance(baselines, str) else "tensor", rows_per_pass=rows)
        return AttributionResult(self.name, self.site, a, delta, fx, fb, enc.tokens, _pad_word_ids(enc), cfg)


def _pad_word_ids(enc) -> list:
    return [list(w) for w in enc.word_ids]

