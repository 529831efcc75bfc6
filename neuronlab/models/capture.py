"""Scoped site hooks: read, replace or stop at any site by its name.

:class:`SiteHooks` registers one function per site on the module the adapter names for it (a forward
hook for sites read from a module's output, a forward pre-hook for sites read from its input). The
function receives the site's tensor and returns either ``None`` (leave it) or a tensor that replaces it
for the rest of the forward pass. Hooks are registered on ``__enter__`` and removed in ``finally`` on
exit, also when an exception escapes the block.

:class:`SiteCapture` is the recording special case that extraction uses: it stores each site's tensor
and stops the forward pass after the deepest requested site. The live-model layer
(:mod:`neuronlab.models.live`) builds its read / replace / differentiate hooks on :class:`SiteHooks`.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

from ..errors import UnknownSiteError
from ..sites import expand_sites, is_attention_probs, site_order_key
from .adapters import Adapter, Hook, site_hooks

__all__ = ["StopForward", "SiteHooks", "SiteCapture", "model_sites", "list_sites", "n_layers_per_stack",
           "get_module", "site_module"]


class StopForward(Exception):
    """Raised by the hook of the deepest requested site: nothing after it needs computing."""


def get_module(root, path: str):
    mod = root
    for part in path.split("."):
        mod = mod[int(part)] if part.isdigit() else getattr(mod, part)
    return mod


def n_layers_per_stack(model, adapter: Adapter) -> dict:
    base = model.base_model
    return {stack: len(get_module(base, spec.layers)) for stack, spec in adapter.stacks.items()}


def model_sites(model, adapter: Adapter) -> dict[str, tuple[str | None, Hook]]:
    """Every site of ``model`` in model order: ``name -> (stack, hook)``."""
    return site_hooks(adapter, n_layers_per_stack(model, adapter))


def site_module(model, adapter: Adapter, site: str, hook: Hook):
    """The module a site is read from.

    Raises
    ------
    UnknownSiteError
        If the adapter's path does not exist in ``model`` (the adapter does not match the model).
    """
    base = model.base_model
    try:
        return get_module(base, hook.path)
    except (AttributeError, IndexError) as exc:
        raise UnknownSiteError(
            f"site {site!r}: module {hook.path!r} not found in {type(base).__name__} ({exc}); "
            f"the {adapter.family} adapter does not match this model"
        ) from None


def _first_tensor(x):
    if isinstance(x, (tuple, list)):
        return x[0]
    if hasattr(x, "last_hidden_state"):
        return x.last_hidden_state
    return x


def _with_first_tensor(x, new):
    """``x`` (a tensor, a tuple whose first element is the tensor, or a model output) with that tensor replaced."""
    if isinstance(x, tuple):
        return (new,) + tuple(x[1:])
    if isinstance(x, list):
        return [new] + list(x[1:])
    if hasattr(x, "last_hidden_state"):
        x.last_hidden_state = new
        return x
    return new


#: ``fn(tensor) -> tensor or None``: what a site hook does with the site's value
SiteFn = Callable[[object], object]


class SiteHooks:
    """Call a function on the value of each of several sites during forward passes, scoped.

    Parameters
    ----------
    model : transformers.PreTrainedModel
    adapter : Adapter
    fns : mapping of str to callable
        ``site name -> fn(tensor)``. ``fn`` returns None to leave the value as it is, or a tensor of the
        same shape that replaces it downstream. Names must be resolved site names (no globs).

    Attributes
    ----------
    sites : list of str
        The hooked sites in model order.
    phase : str or None
        The stack being run (``"encoder"``/``"decoder"``) for encoder-decoder models; hooks of the other
        stack ignore calls (T5 may share its embedding module between the stacks). Set automatically by
        pre-hooks on the stack modules, so a plain ``model(input_ids=..., decoder_input_ids=...)`` call
        reaches both stacks; callers that run one stack at a time may also set it themselves.

    Examples
    --------
    >>> with SiteHooks(model, adapter, {"layers.2": lambda h: h * 0}):   # doctest: +SKIP
    ...     out = model(**batch)
    """

    def __init__(self, model, adapter: Adapter, fns: Mapping[str, SiteFn] | None = None):
        self.model = model
        self.adapter = adapter
        self._all_sites = model_sites(model, adapter)
        self._fns: dict[str, SiteFn] = {}
        self.phase: str | None = None
        self._handles: list = []
        self._probs_fns: dict[str, SiteFn] = {}
        if fns:
            fns = dict(fns)
            self._probs_fns = {s: f for s, f in fns.items() if is_attention_probs(s)}
            if self._probs_fns:  # attention probabilities: hooked through the attention function (attention_probs.py)
                from .attention_probs import probs_sites

                expand_sites(list(self._probs_fns), probs_sites(model, adapter))
            self._fns = {s: f for s, f in fns.items() if s not in self._probs_fns}
            if self._fns:
                expand_sites(list(self._fns), self._all_sites)  # unknown names -> UnknownSiteError listing the valid ones
        self._set_sites(list(self._fns))

    def _set_sites(self, sites) -> None:
        self.sites = [s for s in self._all_sites if s in set(sites)]
        self._spec = {s: self._all_sites[s] for s in self.sites}
        by_stack: dict = {}
        for s in self.sites:
            by_stack.setdefault(self._spec[s][0], []).append(s)
        self._by_stack = by_stack
        self.stacks = list(by_stack)

    def _call(self, site: str, stack, value):
        """Run the site's function on ``value``; returns the replacement tensor or None."""
        if stack is not None and self.phase != stack:
            return None
        return self._fns[site](_first_tensor(value))

    def _make_hook(self, site: str, stack, io: str):
        if io == "input":
            def pre_hook(module, args, kwargs):
                if args:
                    new = self._call(site, stack, args[0])
                    return None if new is None else ((new,) + tuple(args[1:]), kwargs)
                key = next(iter(kwargs))
                new = self._call(site, stack, kwargs[key])
                return None if new is None else (args, {**kwargs, key: new})

            return pre_hook, True

        def fwd_hook(module, args, output):
            new = self._call(site, stack, output)
            return None if new is None else _with_first_tensor(output, new)

        return fwd_hook, False

    def __enter__(self):
        base = self.model.base_model
        try:
            for site in self.sites:
                stack, hook = self._spec[site]
                module = site_module(self.model, self.adapter, site, hook)
                fn, is_pre = self._make_hook(site, stack, hook.io)
                if is_pre:
                    self._handles.append(module.register_forward_pre_hook(fn, with_kwargs=True))
                else:
                    self._handles.append(module.register_forward_hook(fn))
            for stack in self.stacks:
                if stack is None:
                    continue
                layers_path = self.adapter.stacks[stack].layers
                stack_path = layers_path.rsplit(".", 1)[0] if "." in layers_path else stack
                self._handles.append(get_module(base, stack_path).register_forward_pre_hook(self._phase_hook(stack)))
            if self._probs_fns:
                from .attention_probs import ProbsHooks

                self._handles.append(ProbsHooks(self.model, self.adapter, self._probs_fns).__enter__())
        except BaseException:
            self.remove()
            raise
        return self

    def _phase_hook(self, stack: str):
        def set_phase(module, args):
            self.phase = stack

        return set_phase

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def __exit__(self, *exc) -> None:
        self.remove()
        self.phase = None


class SiteCapture(SiteHooks):
    """Record the activations of ``sites`` during forward passes of ``model``.

    Parameters
    ----------
    model : transformers.PreTrainedModel
    adapter : Adapter
    sites : str or sequence of str
        Names or globs.
    stop_early : bool, default True
        Raise :class:`StopForward` once the deepest requested site of the current stack has been
        recorded, so that later blocks are never computed.

    Attributes
    ----------
    sites : list of str
        Resolved site names in model order.
    outputs : dict
        ``site -> tensor (batch, seq, width)`` for the last forward pass.
    phase : str or None
        See :class:`SiteHooks`.

    Notes
    -----
    Early stop happens only in the last requested stack of an encoder-decoder model: when decoder
    sites are requested, the encoder must run to the end because the decoder reads its output.
    """

    def __init__(self, model, adapter: Adapter, sites, *, stop_early: bool = True):
        super().__init__(model, adapter)
        chosen = expand_sites(sites, self._all_sites)
        self._set_sites(chosen)
        self.stop_early = stop_early
        self.outputs: dict = {}
        self.deepest = {stack: max(names, key=site_order_key) for stack, names in self._by_stack.items()}
        self._fns = {s: self._recorder(s) for s in self.sites}

    def _recorder(self, site: str) -> SiteFn:
        stack = self._spec[site][0]
        # stop only after the deepest site of the LAST requested stack: an earlier stack (the encoder)
        # must finish, since the later one (the decoder) reads its output
        deepest = self.deepest[stack] == site and stack == self.stacks[-1]

        def record(tensor):
            self.outputs[site] = tensor.detach()
            if deepest and self.stop_early:
                raise StopForward(site)

        return record

    def __enter__(self) -> "SiteCapture":
        return super().__enter__()

    def __exit__(self, *exc) -> None:
        super().__exit__(*exc)
        self.outputs = {}

    def clear(self) -> None:
        self.outputs = {}


def list_sites(model, adapter: Adapter, patterns: Iterable[str] | str | None = None) -> list[str]:
    """Site names of a model (optionally filtered by names/globs)."""
    return expand_sites(patterns, model_sites(model, adapter))
