"""Library errors name Python parameters; the CLI shows the same errors with its flags."""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.cli.main import main
from neuronlab.concepts.study import probe_concept, rank_concept
from neuronlab.errors import InvalidParameterError
from neuronlab.store import ActivationStore

from concept_stores import tiny_store  # noqa: F401 (fixture)


def test_memory_error_names_python_parameters_and_cli_names_flags(tiny_store, capsys):
    with ActivationStore.open(tiny_store) as st:
        with pytest.raises(InvalidParameterError, match=r"select fewer sites \(sites=\).*raise max_memory_gb= on"):
            rank_concept(st, "concept", "ap", max_memory_gb=1e-9)
    rc = main(["rank", str(tiny_store), "--concept", "concept", "--method", "ap", "--max-memory-gb", "1e-9"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "select fewer sites (--sites)" in err and "raise --max-memory-gb on a bigger machine" in err
    assert "max_memory_gb" not in err


def test_sentence_concept_on_word_store_error(tiny_store, capsys):
    with ActivationStore.open(tiny_store, mode="r+") as st:
        st.write_label("polarity", np.arange(st.n_sentences) % 2, ["neg", "pos"], level="sentence")
    with ActivationStore.open(tiny_store) as st:
        with pytest.raises(InvalidParameterError, match="extract with granularity='sentence' to probe it .*expert"):
            probe_concept(st, "polarity")
    rc = main(["probe", str(tiny_store), "--concept", "polarity", "--no-controls"])
    err = capsys.readouterr().err
    assert rc == 2 and "extract with --granularity sentence to probe it" in err
