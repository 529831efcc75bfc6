"""Live models for the attribution and live-layer tests: minilm with a seeded head, and a tiny BERT classifier."""
from __future__ import annotations

INPUTS = ["a good movie", "the plot was terrible and boring"]


def minilm_classifier(seed: int = 0):
    """minilm + a 2-class head drawn with ``seed`` (weights of std 1, so that logits move visibly)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from neuronlab.models.live import LiveModel
    from neuronlab.models.loading import _minilm_path

    path = str(_minilm_path())
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    with torch.no_grad():
        model.classifier.weight.normal_(0, 1.0)
    return LiveModel(model, AutoTokenizer.from_pretrained(path))


def tiny_bert(seed: int = 0, hidden: int = 16, layers: int = 2):
    """A random 2-layer BERT classifier (hidden 16, FFN 24) with the minilm tokenizer, as a LiveModel."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from neuronlab.models.live import LiveModel
    from neuronlab.models.loading import _minilm_path

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                     intermediate_size=24, max_position_embeddings=64, num_labels=2)
    model = BertForSequenceClassification(cfg).eval()
    return LiveModel(model, AutoTokenizer.from_pretrained(str(_minilm_path())))
