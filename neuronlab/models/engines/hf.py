"""The transformers engine: any registered architecture, sites read with scoped forward hooks."""
from __future__ import annotations

from typing import Sequence

from ..capture import SiteCapture, StopForward, model_sites
from ..loading import LoadedModel
from ..wordtok import HFWordTokenizer
from .base import Engine
from .encoder import ENCODER_SPECS

__all__ = ["HFEngine"]


class HFEngine(Engine):
    """Run a transformers model with :class:`SiteCapture` hooks on padded batches.

    Sequences are right-padded to the longest of the batch; the forward pass stops after the deepest
    requested site (:class:`StopForward`). Encoder-decoder models run the encoder, then (only when a
    decoder site is asked for) the decoder on the sequence shifted right by one behind
    ``config.decoder_start_token_id``.

    Parameters
    ----------
    loaded : LoadedModel
        From :func:`neuronlab.models.load_model`.
    compute_dtype : {"float32", "tf32", "bfloat16", "float16"}
        ``bfloat16``/``float16`` run the float32 model under :func:`torch.autocast` (the loaded model is
        not changed); ``tf32`` allows TensorFloat-32 matrix products around each forward pass.
    """

    name = "hf"
    max_workers = 1  # hooks record into one SiteCapture; batches run one at a time (each uses all threads)

    def __init__(self, loaded: LoadedModel, *, compute_dtype: str = "float32"):
        from .precision import check_compute_dtype

        self.loaded = loaded
        self.model = loaded.model
        self.adapter = loaded.adapter
        self.tokenizer = HFWordTokenizer(loaded.tokenizer)
        self.info = dict(loaded.info, engine=self.name)
        self.device = str(next(self.model.parameters()).device)
        self.compute_dtype = check_compute_dtype(compute_dtype, self.device)
        self._sites = list(model_sites(self.model, self.adapter))
        self._widths: dict[str, int] = {}

    @property
    def sites(self) -> list[str]:
        return self._sites

    @property
    def max_positions(self) -> int | None:
        cfg = self.model.config
        for attr in ("max_position_embeddings", "n_positions", "max_length"):
            v = getattr(cfg, attr, None)
            if isinstance(v, int) and v > 0:
                # RoBERTa-style position tables reserve padding_idx + 1 positions: the native spec knows how many
                spec = ENCODER_SPECS.get(getattr(cfg, "model_type", ""))
                return v - spec.reserved_positions(cfg.to_dict()) if spec is not None else v
        return self.tokenizer.model_max_length

    def widths(self, sites: Sequence[str]) -> dict[str, int]:
        """Found by a forward pass on a two-word input that runs only as far as the sites need (cached)."""
        self._check_resolved(sites, self._sites)
        missing = [s for s in sites if s not in self._widths]
        if missing:
            ids, _ = self.tokenizer.encode_words([["hello", "world"]])[0]
            self._widths.update({s: int(t.shape[-1]) for s, t in self.run([ids], missing).items()})
        return {s: self._widths[s] for s in sites}

    def run(self, batch, sites):
        import torch

        model = self.model
        pad = self.tokenizer.pad_token_id
        lengths = [len(x) for x in batch]
        B, T = len(batch), max(lengths)
        ids = torch.full((B, T), pad, dtype=torch.long)
        mask = torch.zeros((B, T), dtype=torch.long)
        for i, x in enumerate(batch):
            ids[i, : len(x)] = torch.as_tensor(x, dtype=torch.long)
            mask[i, : len(x)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        with SiteCapture(model, self.adapter, list(sites)) as cap, torch.inference_mode(), self._precision():
            if self.adapter.is_encoder_decoder:
                self._encoder_decoder(cap, ids, mask, pad)
            else:
                try:
                    model(input_ids=ids, attention_mask=mask)
                except StopForward:
                    pass
            outputs = dict(cap.outputs)
        # packed rows: position t of sequence b is row b * T + t of the flattened (B * T) activations
        flat = torch.cat([torch.arange(n) + b * T for b, n in enumerate(lengths)]).to(self.device)
        out = {s: outputs[s].reshape(B * outputs[s].shape[1], -1).index_select(0, flat) for s in sites}
        return {s: (t if self.compute_dtype in ("bfloat16", "float16") else t.float()) for s, t in out.items()}

    def _precision(self):
        """The autocast / matrix-product mode of the compute dtype, as one context manager."""
        import contextlib

        import torch

        from .precision import matmul_precision, weight_dtype

        stack = contextlib.ExitStack()
        stack.enter_context(matmul_precision(self.compute_dtype))
        if self.compute_dtype in ("bfloat16", "float16"):
            stack.enter_context(torch.autocast(torch.device(self.device).type, dtype=weight_dtype(self.compute_dtype)))
        return stack

    def _encoder_decoder(self, cap: SiteCapture, ids, mask, pad: int) -> None:
        import torch

        model = self.model
        cap.phase = "encoder"
        enc_out = None
        try:
            enc_out = model.get_encoder()(input_ids=ids, attention_mask=mask)
        except StopForward:
            pass
        if "decoder" in cap.stacks:
            cap.phase = "decoder"
            start = model.config.decoder_start_token_id
            start = pad if start is None else start
            dec = torch.cat([torch.full_like(ids[:, :1], start), ids[:, :-1]], dim=1)
            try:
                model.get_decoder()(input_ids=dec, attention_mask=mask, encoder_hidden_states=enc_out[0],
                                    encoder_attention_mask=mask)
            except StopForward:
                pass
