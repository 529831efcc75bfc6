"""Scoped forward hooks that record site activations and stop the forward pass early.

:class:`SiteCapture` is a context manager: hooks are registered on ``__enter__`` and removed in
``finally`` on exit, also when an exception escapes the block.
"""
from __future__ import annotations

from typing import Iterable

from ..errors import UnknownSiteError
from ..sites import expand_sites, site_order_key
from .adapters import Adapter, Hook, site_hooks

__all__ = ["StopForward", "SiteCapture", "model_sites", "list_sites", "n_layers_per_stack", "get_module"]


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


def _first_tensor(x):
    if isinstance(x, (tuple, list)):
        return x[0]
    if hasattr(x, "last_hidden_state"):
        return x.last_hidden_state
    return x


class SiteCapture:
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
        The stack being run (``"encoder"``/``"decoder"``) for encoder-decoder models; hooks of the other
        stack ignore calls (T5 may share its embedding module between the stacks). Set automatically by
        pre-hooks on the stack modules, so a plain ``model(input_ids=..., decoder_input_ids=...)`` call
        records both stacks; callers that run one stack at a time may also set it themselves.

    Notes
    -----
    Early stop happens only in the last requested stack of an encoder-decoder model: when decoder
    sites are requested, the encoder must run to the end because the decoder reads its output.
    """

    def __init__(self, model, adapter: Adapter, sites, *, stop_early: bool = True):
        self.model = model
        self.adapter = adapter
        all_sites = model_sites(model, adapter)
        self.sites = expand_sites(sites, all_sites)
        self._spec = {s: all_sites[s] for s in self.sites}
        self.stop_early = stop_early
        self.outputs: dict = {}
        self.phase: str | None = None
        self._handles: list = []
        by_stack: dict = {}
        for s in self.sites:
            by_stack.setdefault(self._spec[s][0], []).append(s)
        self.deepest = {stack: max(names, key=site_order_key) for stack, names in by_stack.items()}
        self.stacks = list(by_stack)

    def _make_hook(self, site: str, stack, io: str):
        # stop only after the deepest site of the LAST requested stack: an earlier stack (the encoder)
        # must finish, since the later one (the decoder) reads its output
        deepest = self.deepest[stack] == site and stack == self.stacks[-1]

        def record(value):
            if stack is not None and self.phase != stack:
                return
            self.outputs[site] = _first_tensor(value).detach()
            if deepest and self.stop_early:
                raise StopForward(site)

        if io == "input":
            def pre_hook(module, args, kwargs):
                record(args[0] if args else next(iter(kwargs.values())))

            return pre_hook, True

        def fwd_hook(module, args, output):
            record(output)

        return fwd_hook, False

    def __enter__(self) -> "SiteCapture":
        base = self.model.base_model
        try:
            for site in self.sites:
                stack, hook = self._spec[site]
                try:
                    module = get_module(base, hook.path)
                except (AttributeError, IndexError) as exc:
                    raise UnknownSiteError(
                        f"site {site!r}: module {hook.path!r} not found in {type(base).__name__} ({exc}); "
                        f"the {self.adapter.family} adapter does not match this model"
                    ) from None
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
        self.outputs = {}
        self.phase = None

    def clear(self) -> None:
        self.outputs = {}


def list_sites(model, adapter: Adapter, patterns: Iterable[str] | str | None = None) -> list[str]:
    """Site names of a model (optionally filtered by names/globs)."""
    return expand_sites(patterns, model_sites(model, adapter))


