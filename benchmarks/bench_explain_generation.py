"""Generation explanations: neuronlab's batched rows against Captum's LLM attribution, side by side (issue 15).

Same random GPT-2 (from a config, the minilm WordPiece vocabulary), same prompts and forced targets, same
step target (log-probability of each target token, source tokens attributed):

- gradient x input: neuronlab (all steps of all sentences as rows, one backward per pass) vs Captum
  ``LLMGradientAttribution(LayerGradientXActivation)`` (one forward/backward per step and sentence);
- integrated gradients (``--ig-steps`` Gauss-Legendre nodes): neuronlab vs ``LayerIntegratedGradients``;
- occlusion: neuronlab (one teacher-forced row per replaced token) vs ``LLMAttribution(FeatureAblation)``
  with ``forward_in_tokens=False`` (Captum's fastest mode).

Prints seconds, the ratio Captum / neuronlab and the largest difference of the scores.

Usage::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_explain_generation.py --threads 2
"""
from __future__ import annotations

import argparse
import time

import numpy as np

WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "park", "house", "quickly", "slowly", "big", "small", "red", "green", "blue", "old", "new", "man", "woman", "saw", "heard", "said", "that", "it", "was", "very", "good", "bad"]


def _model(hidden: int, layers: int, seed: int):
    import torch
    import transformers as tf
    from tokenizers.processors import TemplateProcessing

    from neuronlab.models.live import LiveModel
    from neuronlab.models.loading import _minilm_path

    tok = tf.AutoTokenizer.from_pretrained(str(_minilm_path()))
    # a GPT-2-like tokenizer: no [CLS]/[SEP] around the text (Captum and neuronlab then see the same tokens)
    tok.backend_tokenizer.post_processor = TemplateProcessing(single="$A", pair="$A $B", special_tokens=[])
    torch.manual_seed(seed)
    cfg = tf.GPT2Config(vocab_size=len(tok), n_embd=hidden, n_layer=layers, n_head=4, n_positions=256,
                        bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id, initializer_range=0.2)
    model = tf.GPT2LMHeadModel(cfg).eval()
    return LiveModel(model, tok)


def _texts(n: int, length: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=length)) for _ in range(n)]


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    import torch
    from captum.attr import (
        FeatureAblation,
        LayerGradientXActivation,
        LayerIntegratedGradients,
        LLMAttribution,
        LLMGradientAttribution,
        TextTokenInput,
    )

    from neuronlab.explain.generation import explain_generation

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sentences", type=int, default=8)
    p.add_argument("--prompt-words", type=int, default=20)
    p.add_argument("--target-words", type=int, default=12)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--ig-steps", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    live = _model(args.hidden, args.layers, 0)
    prompts = _texts(args.sentences, args.prompt_words, 1)
    targets = [" " + t for t in _texts(args.sentences, args.target_words, 2)]
    tok, model = live.tokenizer, live.model
    wte = model.transformer.wte
    base = tok.convert_ids_to_tokens(0)

    def captum_grad(method, **kw):
        attr = LLMGradientAttribution(method, tok)
        return [attr.attribute(TextTokenInput(s, tok), target=torch.tensor(tok(t, add_special_tokens=False)
                                                                           ["input_ids"]), **kw).token_attr.numpy()
                for s, t in zip(prompts, targets)]

    def captum_occlusion():
        attr = LLMAttribution(FeatureAblation(model), tok)
        return [attr.attribute(TextTokenInput(s, tok, baselines=0), target=torch.tensor(
            tok(t, add_special_tokens=False)["input_ids"]), forward_in_tokens=False).token_attr.numpy()
            for s, t in zip(prompts, targets)]

    def ours(method, **kw):
        ex = explain_generation(live, prompts, method=method, targets=targets, batch_size=args.batch_size,
                                target_side=False, **kw)
        return [ex.source_scores(i) for i in range(len(prompts))], ex.forward_passes

    cases = [
        ("gradient_x_input", lambda: ours("gradient_x_input"),
         lambda: captum_grad(LayerGradientXActivation(model, wte))),
        (f"integrated_gradients ({args.ig_steps} nodes)",
         lambda: ours("integrated_gradients", steps=args.ig_steps, baseline=base),
         lambda: captum_grad(LayerIntegratedGradients(model, wte), n_steps=args.ig_steps)),
        ("occlusion", lambda: ours("occlusion", baseline=base), captum_occlusion),
    ]
    print(f"random GPT-2 hidden {args.hidden}, {args.layers} layers, vocabulary {len(tok)}; {args.sentences} "
          f"prompts of {args.prompt_words} words, forced targets of {args.target_words} words; "
          f"{args.threads} threads")
    print(f"{'method':<32} {'neuronlab s':>11} {'rows':>6} {'captum s':>9} {'ratio':>6} {'max |diff|':>10} "
          f"{'max |score|':>11}")
    for name, mine, theirs in cases:
        (scores, passes), t_ours = _timed(mine)
        ref, t_ref = _timed(theirs)
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(scores, ref))
        size = max(float(np.max(np.abs(a))) for a in scores)
        print(f"{name:<32} {t_ours:11.2f} {passes:6d} {t_ref:9.2f} {t_ref / t_ours:5.1f}x {diff:10.2e} {size:11.2e}")


if __name__ == "__main__":
    main()
