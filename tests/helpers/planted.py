"""A planted-signal classifier for the input-level tests: class 1 iff the word "nobody" occurs.

A 2-layer BERT (hidden 32) with the minilm tokenizer, trained for a few seconds on sentences drawn from a
small vocabulary; every explainer must put "nobody" first on its positive sentences (issue 15).
"""
from __future__ import annotations

import functools

WORDS = ["the", "movie", "was", "good", "bad", "a", "plot", "actor", "liked", "film", "story", "great", "dull",
         "everyone", "people", "saw", "it", "and", "very", "quite"]
PLANTED = "nobody"


def sentences(n: int, seed: int = 0) -> tuple[list[list[str]], list[int]]:
    """``n`` word lists of 4-9 words; half contain "nobody" at a random place (label 1)."""
    import random

    rng = random.Random(seed)
    out, labels = [], []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 9))]
        label = i % 2
        if label:
            words.insert(rng.randrange(len(words) + 1), PLANTED)
        out.append(words)
        labels.append(label)
    return out, labels


@functools.lru_cache(maxsize=1)
def planted_classifier(seed: int = 0):
    """The trained planted classifier as a LiveModel (cached; ~10 s on 2 CPU cores).

    Raises
    ------
    RuntimeError
        If training did not reach 100% accuracy on held-out sentences (the tests would be meaningless).
    """
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from neuronlab.models.live import LiveModel
    from neuronlab.models.loading import _minilm_path

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(str(_minilm_path()))
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=32, num_labels=2,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertForSequenceClassification(cfg)
    train, labels = sentences(512, seed)
    enc = tok(train, is_split_into_words=True, padding=True, return_tensors="pt")
    y = torch.tensor(labels)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for epoch in range(12):
        perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(epoch))
        for b in range(0, len(train), 64):
            idx = perm[b:b + 64]
            out = model(input_ids=enc["input_ids"][idx], attention_mask=enc["attention_mask"][idx], labels=y[idx])
            opt.zero_grad()
            out.loss.backward()
            opt.step()
    model.eval()
    live = LiveModel(model, tok)
    test, test_y = sentences(200, seed + 1)
    with torch.no_grad():
        pred = live.forward(live.encode(test)).logits.argmax(-1).tolist()
    acc = sum(int(p == t) for p, t in zip(pred, test_y)) / len(test_y)
    if acc < 1.0:
        raise RuntimeError(f"the planted classifier reached only {acc:.3f} held-out accuracy")
    return live
