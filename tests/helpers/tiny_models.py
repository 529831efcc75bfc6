"""Tiny random models of every registered architecture family, saved like a user's local model.

Each builder writes ``config.json`` + weights + tokenizer into a directory so that
``neuronlab.models.load_model(str(directory))`` loads it through the ordinary path (AutoConfig,
AutoTokenizer with the adapter's tokenizer options, AutoModel). No hub access is needed:

- BERT, DistilBERT, ELECTRA, Llama and T5 use the embedded MiniLM WordPiece tokenizer (vocabulary 30522);
- GPT-2, GPT-NeoX, RoBERTa and BART use a byte-level BPE trained here on a few sentences and wrapped
  in the family's fast tokenizer class.

Widths are chosen all different so that a site read from the wrong module shows up as a wrong width:
hidden 32, FFN 48 (encoder) / 40 (decoder), 2 heads of head_dim 16 (T5 and Llama: head_dim 8, so that
``attn.heads`` = 16 differs from the hidden size).

Usage::

    from helpers.tiny_models import build_tiny_model, FAMILIES
    path = build_tiny_model("gpt2", tmp_dir)
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["FAMILIES", "EXPECTED", "build_tiny_model", "BPE_SENTENCES"]

HIDDEN = 32
FFN = 48
DEC_FFN = 40  # encoder-decoder models: decoder FFN differs from the encoder's
N_LAYERS = 3
N_HEADS = 2
SMALL_HEAD_DIM = 8  # T5 / Llama: heads x head_dim = 16 != hidden
BERT_VOCAB = 30522

FAMILIES = ("bert", "roberta", "distilbert", "electra", "gpt2", "gpt_neox", "llama", "t5", "bart")
EMBEDDING_SIZE = 24  # ELECTRA: embeddings projected 24 -> 32 before block 0

#: per family and stack: (n_layers, hidden, mlp width, heads width)
EXPECTED = {
    "bert": {None: (N_LAYERS, HIDDEN, FFN, HIDDEN)},
    "roberta": {None: (N_LAYERS, HIDDEN, FFN, HIDDEN)},
    "distilbert": {None: (N_LAYERS, HIDDEN, FFN, HIDDEN)},
    "electra": {None: (N_LAYERS, HIDDEN, FFN, HIDDEN)},
    "gpt2": {None: (N_LAYERS, HIDDEN, FFN, HIDDEN)},
    "gpt_neox": {None: (N_LAYERS, HIDDEN, FFN, HIDDEN)},
    "llama": {None: (N_LAYERS, HIDDEN, FFN, N_HEADS * SMALL_HEAD_DIM)},
    "t5": {"encoder": (N_LAYERS, HIDDEN, FFN, N_HEADS * SMALL_HEAD_DIM),
           "decoder": (2, HIDDEN, FFN, N_HEADS * SMALL_HEAD_DIM)},
    "bart": {"encoder": (N_LAYERS, HIDDEN, FFN, HIDDEN), "decoder": (2, HIDDEN, DEC_FFN, HIDDEN)},
}

BPE_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A cat sat on the mat and the dog ran in the park.",
    "She walks to school every day while he drives to work.",
    "They were reading books about history, science and art.",
    "We will see what the model learns from these few words!",
    "Numbers like 1 2 3 and 42 appear in some sentences too.",
]


def _minilm_tokenizer():
    from transformers import AutoTokenizer

    from neuronlab.models.loading import _minilm_path

    return AutoTokenizer.from_pretrained(str(_minilm_path()))


def _bpe_files(directory: Path, specials: list[str]) -> tuple[dict, list]:
    """Train a tiny byte-level BPE; returns its vocabulary and merges."""
    import json

    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer(add_prefix_space=True)
    bpe.train_from_iterator(BPE_SENTENCES * 4, vocab_size=400, min_frequency=1, special_tokens=specials,
                            show_progress=False)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


def _bpe_tokenizer(family: str, directory: Path):
    import transformers as tf

    if family in ("roberta", "bart"):
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        vocab, merges = _bpe_files(directory, specials)
        cls = tf.RobertaTokenizerFast if family == "roberta" else tf.BartTokenizerFast
        return cls(vocab=vocab, merges=merges, add_prefix_space=True)
    specials = ["<|endoftext|>", "<|pad|>"]
    vocab, merges = _bpe_files(directory, specials)
    cls = tf.GPT2TokenizerFast if family == "gpt2" else tf.GPTNeoXTokenizerFast
    tok = cls(vocab=vocab, merges=merges, add_prefix_space=True,
              unk_token="<|endoftext|>", bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    tok.pad_token = "<|pad|>"
    return tok


def _config(family: str, vocab_size: int, tok):
    import transformers as tf

    common = dict(vocab_size=vocab_size, pad_token_id=tok.pad_token_id)
    if family == "bert":
        return tf.BertConfig(hidden_size=HIDDEN, num_hidden_layers=N_LAYERS, num_attention_heads=N_HEADS,
                             intermediate_size=FFN, max_position_embeddings=64, **common)
    if family == "roberta":
        return tf.RobertaConfig(hidden_size=HIDDEN, num_hidden_layers=N_LAYERS, num_attention_heads=N_HEADS,
                                intermediate_size=FFN, max_position_embeddings=66, type_vocab_size=1,
                                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, **common)
    if family == "electra":
        return tf.ElectraConfig(embedding_size=EMBEDDING_SIZE, hidden_size=HIDDEN, num_hidden_layers=N_LAYERS,
                                num_attention_heads=N_HEADS, intermediate_size=FFN, max_position_embeddings=64,
                                **common)
    if family == "distilbert":
        return tf.DistilBertConfig(dim=HIDDEN, n_layers=N_LAYERS, n_heads=N_HEADS, hidden_dim=FFN,
                                   max_position_embeddings=64, **common)
    if family == "gpt2":
        return tf.GPT2Config(n_embd=HIDDEN, n_layer=N_LAYERS, n_head=N_HEADS, n_inner=FFN, n_positions=64,
                             bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, **common)
    if family == "gpt_neox":
        # parallel residual (the default): h = h_prev + attn(ln1(h_prev)) + mlp(ln2(h_prev))
        return tf.GPTNeoXConfig(hidden_size=HIDDEN, num_hidden_layers=N_LAYERS, num_attention_heads=N_HEADS,
                                intermediate_size=FFN, max_position_embeddings=64, use_parallel_residual=True,
                                rotary_pct=0.5, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                **common)
    if family == "llama":
        # grouped-query attention (1 kv head) and head_dim 8 != hidden / heads
        return tf.LlamaConfig(hidden_size=HIDDEN, num_hidden_layers=N_LAYERS, num_attention_heads=N_HEADS,
                              num_key_value_heads=1, head_dim=SMALL_HEAD_DIM, intermediate_size=FFN,
                              max_position_embeddings=64, bos_token_id=tok.cls_token_id,
                              eos_token_id=tok.sep_token_id, **common)
    if family == "t5":
        return tf.T5Config(d_model=HIDDEN, d_kv=SMALL_HEAD_DIM, d_ff=FFN, num_layers=N_LAYERS,
                           num_decoder_layers=2, num_heads=N_HEADS, feed_forward_proj="gated-gelu",
                           decoder_start_token_id=tok.pad_token_id, eos_token_id=tok.sep_token_id,
                           relative_attention_num_buckets=8, **common)
    if family == "bart":
        return tf.BartConfig(d_model=HIDDEN, encoder_layers=N_LAYERS, decoder_layers=2,
                             encoder_attention_heads=N_HEADS, decoder_attention_heads=N_HEADS,
                             encoder_ffn_dim=FFN, decoder_ffn_dim=DEC_FFN, max_position_embeddings=64,
                             bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                             decoder_start_token_id=tok.eos_token_id, forced_eos_token_id=None, **common)
    raise ValueError(f"unknown family {family!r}; known: {FAMILIES}")


def build_tiny_model(family: str, directory: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny random ``family`` model with its tokenizer into ``directory``; returns the path."""
    import torch
    import transformers as tf

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if family in ("gpt2", "gpt_neox", "roberta", "bart"):
        tok = _bpe_tokenizer(family, directory)
        vocab_size = len(tok)
    else:
        tok = _minilm_tokenizer()
        vocab_size = BERT_VOCAB
    config = _config(family, vocab_size, tok)
    torch.manual_seed(seed)
    model = tf.AutoModel.from_config(config)
    if family == "t5":
        # T5 initialises wo/o tiny; scale up every weight so that the identities are not trivially ~0
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() == 2 and p.std() < 0.05:
                    p.normal_(0.0, 0.2)
    model.eval()
    model.save_pretrained(str(directory))
    tok.save_pretrained(str(directory))
    return directory
