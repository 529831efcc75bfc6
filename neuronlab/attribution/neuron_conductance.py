"""Neuron conductance: one neuron's conductance split over the input tokens (Dhamdhere et al., 2018)."""
from __future__ import annotations

import torch

from ..errors import InvalidParameterError
from ..models.live import LiveModel
from ._path import base_config, input_values, np32, path_values, rows_per_pass
from .quadrature import get_rule
from .result import AttributionResult

__all__ = ["NeuronConductance"]


class NeuronConductance:
    """How much of neuron ``j``'s conductance flows in from each input token.

    For input feature ``x_k`` (an embedding dimension at a token position) and neuron ``j`` of the site,

    .. math:: \\mathrm{Cond}^j_k = (x_k - b_k) \\sum_i w_i \\,
              \\frac{\\partial F}{\\partial y_j}(t_i) \\, \\frac{\\partial y_j}{\\partial x_k}(t_i)

    summed over the embedding dimensions of each token. A neuron is one dimension of the site; with
    ``token=None`` it is that dimension at every position (the chain rule sums over positions), with
    ``token=p`` only position ``p``. Summed over tokens it is the neuron's layer conductance; the
    convergence delta is the difference to the neuron's conductance computed by the Stieltjes sum on the
    same rule's breakpoints (two discretisations of the same integral).

    Parameters
    ----------
    live : LiveModel
    site : str
    rule : str, default "gausslegendre"
    steps : int, default 50
    input_site : str, default "embeddings"
    memory_mb : float, default 1024
    batch_size : int, optional

    References
    ----------
    Dhamdhere, Sundararajan & Yan (2018). How important is a neuron? arXiv:1805.12233.

    Notes
    -----
    Equals Captum's ``NeuronConductance`` with ``neuron_selector=(p, j)`` and the same rule (for
    ``token=p``). Captum's aggregating selectors multiply the *summed* gradient by the *summed* Jacobian,
    which is not the chain rule; ``token=None`` here is the chain rule.
    """

    name = "neuron_conductance"

    def __init__(self, live: LiveModel, site: str, *, rule: str = "gausslegendre", steps: int = 50,
                 input_site: str = "embeddings", memory_mb: float = 1024, batch_size: int | None = None):
        self.live = live
        self.site = live.site(site)
        self.rule = rule
        self.steps = steps
        self.input_site = live.site(input_site)
        self.memory_mb = memory_mb
        self.batch_size = batch_size
        get_rule(rule, steps)

    def attribute(self, inputs, *, target, neuron: int, token: int | None = None,
                  baselines="pad") -> AttributionResult:
        """Conductance of neuron ``neuron`` of the site, per input token.

        Returns
        -------
        AttributionResult
            ``attributions`` of shape (n_examples, n_tokens).
        """
        live = self.live
        enc = live.encode(inputs)
        (neuron,) = live.check_neurons(self.site, [neuron])
        if token is not None and not 0 <= token < enc.input_ids.shape[1]:
            raise InvalidParameterError(f"token {token} is out of range: inputs have {enc.input_ids.shape[1]} "
                                        "token positions")
        resolved = live.resolve_target(enc, target)
        rule = get_rule(self.rule, self.steps)
        x, b = input_values(live, enc, self.input_site, baselines)
        rows = rows_per_pass(live, enc, memory_mb=self.memory_mb, batch_size=self.batch_size)
        nodes = torch.as_tensor(rule.nodes, dtype=x.dtype, device=x.device)
        w = torch.as_tensor(rule.weights, dtype=torch.float64)
        pairs = [(i, e) for e in range(enc.n_examples) for i in range(rule.steps)]
        acc = torch.zeros(x.shape, dtype=torch.float64, device=x.device)
        pos = slice(None) if token is None else slice(token, token + 1)
        for c0 in range(0, len(pairs), rows):
            chunk = pairs[c0: c0 + rows]
            ni = torch.as_tensor([p[0] for p in chunk])
            ex = torch.as_tensor([p[1] for p in chunk])
            interp = (b[ex] + nodes[ni].view(-1, 1, 1) * (x[ex] - b[ex])).requires_grad_(True)
            with torch.enable_grad(), live.replace(self.input_site, lambda v: interp), \
                    live.differentiate(self.site, cut=False) as probe:
                f = live.target(enc, None, ex, resolved=resolved)
                y = probe.value
                (g,) = torch.autograd.grad(f.sum(), y, retain_graph=True)
                (gx,) = torch.autograd.grad((g[:, pos, neuron] * y[:, pos, neuron]).sum(), interp)
            acc.index_add_(0, ex.to(acc.device), gx.double() * w[ni].view(-1, 1, 1).to(acc.device))
        attr = ((x.double() - b.double()) * acc).sum(-1)
        attr = attr * enc.attention_mask.to(attr.device, attr.dtype)
        # the same neuron's conductance by the Stieltjes sum on the rule's breakpoints: the convergence check
        ref, fx, fb = self._stieltjes(enc, resolved, rule, x, b, neuron, pos, rows)
        a = np32(attr)
        cfg = base_config(self.name, live, self.site, target, rule=self.rule, steps=self.steps, neuron=neuron,
                          token=token, input_site=self.input_site,
                          baselines=baselines if isinstance(baselines, str) else "tensor", rows_per_pass=rows)
        return AttributionResult(self.name, self.site, a, a.sum(axis=1) - ref, fx, fb, enc.tokens,
                                 [list(w) for w in enc.word_ids], cfg)

    def _stieltjes(self, enc, resolved, rule, x, b, neuron, pos, rows):
        live = self.live
        ex = list(range(enc.n_examples))
        y_n, g_n, _ = path_values(live, enc, resolved, input_site=self.input_site, site=self.site, x=x, b=b,
                                  alphas=rule.nodes, grad=True, rows_per=rows, examples=ex)
        y_b, _, f_b = path_values(live, enc, resolved, input_site=self.input_site, site=self.site, x=x, b=b,
                                  alphas=rule.breakpoints, grad=False, rows_per=rows, examples=ex)
        yj = y_b[..., pos, neuron].double()
        cond = (g_n[..., pos, neuron].double() * (yj[1:] - yj[:-1])).sum(dim=(0, 2))
        return np32(cond), np32(f_b[-1]), np32(f_b[0])
