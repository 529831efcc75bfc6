"""The result of a generation explanation: one [steps x (source + target)] score matrix per sentence (issue 15).

Columns of sentence ``i``: its source tokens (the encoder input of a seq2seq model, the prompt of a causal
LM), then the decoder prefix (the decoder start token of a seq2seq model; none for a causal LM), then its
target tokens ``y_0 .. y_{T-1}``. Row ``t`` holds the scores of every column for the step target at step
``t`` (the prediction of ``y_t``); a target column ``j >= t`` is NaN there (that token was not produced yet),
as in inseq's attribution matrices.
"""
from __future__ import annotations

import html as _html
from dataclasses import dataclass, field

import numpy as np

from ..results import Result

__all__ = ["GenerationExplanation"]


@dataclass
class GenerationExplanation(Result):
    """Scores of the source and previous target tokens for each generated token.

    Attributes
    ----------
    method, step_target : str
        Keys of :data:`~neuronlab.explain.generation.GENERATION_METHODS` and
        :data:`~neuronlab.explain.gen_targets.STEP_TARGETS`.
    config : dict
        The method's parameters (and the model's name and kind: ``causal`` or ``seq2seq``).
    sources : list of str
        The input texts.
    source_tokens, prefix_tokens, target_tokens : list of list of str
        The tokens of each sentence's three column groups.
    source_word_ids, target_word_ids : list of list of int
        The word of each source / target token (-1: special token), for the word views (:mod:`.views`).
    step_values : list of list of float
        The step target at the input, ``f_t(x)``, per step.
    reference_values : list of list of float or None
        ``f_t(x')`` at the reference of integrated gradients (completeness: a row sums to
        ``f_t(x) - f_t(x')``).
    contrast : list of str or None
    seconds : float
    forward_passes : int
        Model rows evaluated (a pass of n rows counts n).
    scores : list of numpy.ndarray of shape (n_steps, n_source + n_prefix + n_steps)
    """

    kind = "generation_explanation"

    method: str = ""
    step_target: str = ""
    config: dict = field(default_factory=dict)
    sources: list = field(default_factory=list)
    source_tokens: list = field(default_factory=list)
    prefix_tokens: list = field(default_factory=list)
    target_tokens: list = field(default_factory=list)
    source_word_ids: list = field(default_factory=list)
    target_word_ids: list = field(default_factory=list)
    step_values: list = field(default_factory=list)
    reference_values: list | None = None
    contrast: list | None = None
    seconds: float = 0.0
    forward_passes: int = 0
    scores: list | None = field(default=None, repr=False, compare=False, metadata={"array": True})

    # ------------------------------------------------------------------ layout
    def columns(self, i: int) -> list[str]:
        """Column labels of sentence ``i``: source, prefix and target tokens."""
        return list(self.source_tokens[i]) + list(self.prefix_tokens[i]) + list(self.target_tokens[i])

    def n_source(self, i: int) -> int:
        return len(self.source_tokens[i])

    def source_scores(self, i: int) -> np.ndarray:
        """(n_steps, n_source): the scores of the source tokens."""
        return np.asarray(self.scores[i])[:, :self.n_source(i)]

    def target_scores(self, i: int) -> np.ndarray:
        """(n_steps, n_prefix + n_steps): the scores of the decoder prefix and previous target tokens."""
        return np.asarray(self.scores[i])[:, self.n_source(i):]

    def step_sums(self, i: int) -> np.ndarray:
        """Sum of each step's scores over every column produced so far (completeness compares it with
        ``f_t(x) - f_t(x')``)."""
        return np.nansum(np.asarray(self.scores[i], dtype=np.float64), axis=1)

    # ------------------------------------------------------------------ store
    def arrays(self) -> dict[str, np.ndarray]:
        mats = [np.asarray(m, dtype=np.float64) for m in (self.scores or [])]
        shapes = np.array([m.shape for m in mats], dtype=np.int64).reshape(-1, 2)
        flat = np.concatenate([m.ravel() for m in mats]) if mats else np.zeros(0)
        return {"scores_flat": flat, "shapes": shapes}

    @classmethod
    def _from_parts(cls, report: dict, arrays: dict) -> GenerationExplanation:
        names = {f for f in cls.__dataclass_fields__ if f != "scores"}
        return cls(**{k: v for k, v in report.items() if k in names})

    @classmethod
    def from_store(cls, store, name: str) -> GenerationExplanation:
        res = super().from_store(store, name)
        raw = store.read_result(name)
        flat, shapes = np.asarray(raw["scores_flat"], dtype=np.float64), np.asarray(raw["shapes"], dtype=np.int64)
        out, a = [], 0
        for r, c in shapes.reshape(-1, 2):
            out.append(flat[a:a + r * c].reshape(int(r), int(c)))
            a += int(r * c)
        res.scores = out
        return res

    # ------------------------------------------------------------------ display
    def table(self, i: int = 0, *, digits: int = 3) -> str:
        """A plain-text table of sentence ``i``: one row per generated token, one column per token.

        Blank cells are target tokens not produced yet; the last column is the step target ``f_t(x)``.
        """
        cols = self.columns(i)
        mat = np.asarray(self.scores[i], dtype=np.float64)
        w = max([len(c) for c in cols] + [digits + 4])
        rw = max([len(t) for t in self.target_tokens[i]] + [4])
        lines = [" " * rw + " " + " ".join(f"{c[:w]:>{w}}" for c in cols) + f" {'f_t':>{w}}"]
        for t, tok in enumerate(self.target_tokens[i]):
            cells = ["" if np.isnan(v) else f"{v:+.{digits}f}" for v in mat[t]]
            lines.append(f"{tok:<{rw}} " + " ".join(f"{c:>{w}}" for c in cells)
                         + f" {self.step_values[i][t]:>+{w}.{digits}f}")
        return "\n".join(lines)

    def html(self, i: int = 0, *, digits: int = 3) -> str:
        """An HTML table of sentence ``i``; cell colour: red positive, blue negative, by ``|score|`` / max."""
        cols = self.columns(i)
        mat = np.asarray(self.scores[i], dtype=np.float64)
        scale = float(np.nanmax(np.abs(mat))) if np.isfinite(mat).any() else 0.0
        esc = _html.escape
        head = "".join(f"<th>{esc(c)}</th>" for c in cols)
        rows = []
        for t, tok in enumerate(self.target_tokens[i]):
            cells = []
            for v in mat[t]:
                if np.isnan(v):
                    cells.append("<td></td>")
                    continue
                a = 0.0 if scale == 0 else min(1.0, abs(v) / scale)
                rgb = "220,50,47" if v >= 0 else "38,139,210"
                cells.append(f'<td style="background:rgba({rgb},{a:.2f})">{v:+.{digits}f}</td>')
            rows.append(f"<tr><th>{esc(tok)}</th>{''.join(cells)}<td>{self.step_values[i][t]:+.{digits}f}</td></tr>")
        return (f'<table class="neuronlab-generation"><caption>{esc(self.method)} / {esc(self.step_target)}: '
                f'{esc(self.sources[i])}</caption><tr><th></th>{head}<th>f_t</th></tr>{"".join(rows)}</table>')
