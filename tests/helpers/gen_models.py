"""Tiny random language models for the generation tests: a causal LM (GPT-2) saved as a transformers directory
(the CLI loads it by path) and a seq2seq LM (T5), built from configs (no download)."""
from __future__ import annotations

from pathlib import Path


def gpt2_lm_dir(root: Path, work: Path) -> Path:
    """A tiny GPT-2 with its LM head (seed 0) saved under ``root``; ``work`` holds the base model it is made from."""
    import torch
    import transformers as tf
    from helpers.tiny_models import build_tiny_model

    path = build_tiny_model("gpt2", work)
    torch.manual_seed(0)
    tf.GPT2LMHeadModel.from_pretrained(str(path)).save_pretrained(str(root))
    tf.AutoTokenizer.from_pretrained(str(path)).save_pretrained(str(root))
    return root


def gpt2_live(path: Path):
    """The causal LM of :func:`gpt2_lm_dir` as a LiveModel (eval mode)."""
    import transformers as tf

    from neuronlab.models.live import LiveModel

    model = tf.GPT2LMHeadModel.from_pretrained(str(path)).eval()
    return LiveModel(model, tf.AutoTokenizer.from_pretrained(str(path)))


def t5_live(work: Path):
    """A tiny T5 with its LM head as a LiveModel (eval mode)."""
    import transformers as tf
    from helpers.tiny_models import build_tiny_model

    from neuronlab.models.live import LiveModel

    path = build_tiny_model("t5", work)
    model = tf.T5ForConditionalGeneration.from_pretrained(str(path)).eval()
    return LiveModel(model, tf.AutoTokenizer.from_pretrained(str(path)))
