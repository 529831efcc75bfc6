"""Agreement measures against hand-computed values."""
import numpy as np
import pytest

from neuronlab.concepts.rankers import (
    ProbelessRanker,
    agreement_matrix,
    rank_correlation,
    top_k_jaccard,
    top_k_overlap,
)
from neuronlab.errors import InvalidParameterError, NotFittedError


def test_top_k_overlap_and_jaccard():
    a, b = [5, 2, 7, 0, 1], [2, 9, 5, 1, 0]
    # top 3: {5, 2, 7} vs {2, 9, 5}: 2 shared -> overlap 2/3, Jaccard 2/4
    assert top_k_overlap(a, b, 3) == pytest.approx(2 / 3)
    assert top_k_jaccard(a, b, 3) == pytest.approx(1 / 2)
    assert top_k_overlap(a, b, 1) == 0.0
    assert top_k_overlap(a, a, 5) == 1.0 and top_k_jaccard(a, a, 5) == 1.0


def test_rank_correlation_hand_values():
    a = [0.1, 0.4, 0.2, 0.9]  # ranks 1 3 2 4
    b = [1.0, 2.0, 3.0, 4.0]  # ranks 1 2 3 4
    # Spearman: d^2 = 0 + 1 + 1 + 0 = 2 -> 1 - 6*2/(4*15) = 0.8
    assert rank_correlation(a, b) == pytest.approx(0.8)
    # Kendall: 6 pairs, one discordant (items 2, 3) -> (5 - 1)/6
    assert rank_correlation(a, b, method="kendall") == pytest.approx(4 / 6)
    assert rank_correlation(a, [-v for v in a]) == pytest.approx(-1.0)


def test_agreement_matrix_with_rankers_and_arrays():
    X = np.array([[3.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 2.0], [3.0, 0.5, 0.0, 0.0]])
    fitted = ProbelessRanker().fit(X, [0, 1, 0])  # scores = |mean(class 0) - mean(class 1)| = 3, 0.75, 0.5, 2
    assert fitted.ranking_.tolist() == [0, 3, 1, 2]
    m = agreement_matrix({"probeless": fitted, "manual": np.array([3, 0, 2, 1]), "rev": [2, 1, 3, 0]}, k=2)
    assert m.names == ("probeless", "manual", "rev")
    expected = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(m.values, expected)
    assert m["manual", "probeless"] == 1.0
    j = agreement_matrix({"a": [0, 1, 2, 3], "b": [1, 2, 0, 3]}, k=2, metric="jaccard")
    assert j["a", "b"] == pytest.approx(1 / 3)  # {0,1} vs {1,2}
    with pytest.raises(InvalidParameterError, match="unknown ranking 'c'; known: a, b"):
        j["a", "c"]


def test_errors():
    with pytest.raises(InvalidParameterError, match="more than once"):
        top_k_overlap([0, 0, 1], [0, 1, 2], 2)
    with pytest.raises(InvalidParameterError, match="k must be between 1 and n_neurons=3; got k=4"):
        top_k_overlap([0, 1, 2], [0, 1, 2], 4)
    with pytest.raises(InvalidParameterError, match="method must be one of spearman, kendall; got 'pearson'"):
        rank_correlation([1, 2], [2, 1], method="pearson")
    with pytest.raises(InvalidParameterError, match="same length"):
        rank_correlation([1, 2, 3], [2, 1])
    with pytest.raises(InvalidParameterError, match="metric must be one of overlap, jaccard"):
        agreement_matrix({"a": [0, 1]}, k=1, metric="rbo")
    with pytest.raises(NotFittedError):
        agreement_matrix({"a": ProbelessRanker(), "b": [0, 1]}, k=1)
