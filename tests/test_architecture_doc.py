"""The smallest examples of ARCHITECTURE.md work as written: a corpus kind and a probe
are each one new file of their package."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from scalinglab.corpora import KINDS, CorpusConfig, make_corpus
from scalinglab.model import GPTConfig
from scalinglab.probes import PROBES
from scalinglab.runs import TrainConfig
from scalinglab.sweep import expand_grid
from scalinglab.train import train

ARCHITECTURE = Path(__file__).resolve().parents[1] / "ARCHITECTURE.md"


def _example(first_line: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", ARCHITECTURE.read_text(), flags=re.S)
    matching = [block for block in blocks if block.splitlines()[0].startswith(first_line)]
    assert len(matching) == 1, f"ARCHITECTURE.md must hold one example starting {first_line!r}"
    return matching[0]


def _load_as(module_name: str, source: str) -> types.ModuleType:
    """Run ``source`` as the module ``module_name`` would be run from its file."""
    package = module_name.rsplit(".", 1)[0]
    module = types.ModuleType(module_name)
    module.__package__ = package
    sys.modules[module_name] = module
    exec(compile(source, f"<ARCHITECTURE.md: {module_name}>", "exec"), module.__dict__)
    return module


@pytest.fixture
def uniform_kind():
    _load_as("scalinglab.corpora.uniform", _example('"""``"uniform"``'))
    yield KINDS["uniform"]
    del KINDS["uniform"]
    del sys.modules["scalinglab.corpora.uniform"]


@pytest.fixture
def first_position_probe():
    _load_as("scalinglab.probes.first_position_loss", _example('"""Probe ``"first_position_loss"``'))
    yield PROBES["first_position_loss"]
    del PROBES["first_position_loss"]
    del sys.modules["scalinglab.probes.first_position_loss"]


def test_the_corpus_example_is_a_whole_kind(uniform_kind):
    config = CorpusConfig(kind="uniform", n_tokens=20_000, n_letters=4)
    corpus = make_corpus(config)
    assert corpus.entropy_rate_nats == pytest.approx(255 / 256 * np.log(4))
    body = np.concatenate([corpus.train_tokens, corpus.val_tokens])
    assert set(body.tolist()) == set(b"\nabcd")
    with pytest.raises(ValueError, match="'n_rules' is not a parameter of the 'uniform' corpus.*n_letters"):
        CorpusConfig(kind="uniform", n_rules=4)
    grid = {"base": {"tokens": 1024, "corpus": {"kind": "uniform", "n_letters": 3}}, "axes": {"seed": [0]}}
    assert expand_grid(grid)[0].corpus.n_letters == 3


def test_the_probe_example_is_a_whole_probe(uniform_kind, first_position_probe):
    config = TrainConfig(
        model=GPTConfig(n_layer=1, n_head=2, d_model=16, n_ctx=32),
        corpus=CorpusConfig(kind="uniform", n_tokens=20_000, n_letters=4),
        tokens=4096, batch_size=8, n_evals=3, device="cpu",
        evaluation_probes=("icl_score", "first_position_loss"),
    )
    result = train(config)
    losses = result.val_probes["first_position_loss"]
    assert len(losses) == len(result.val_loss_nats)
    assert losses[-1] == pytest.approx(result.val_loss_per_position_nats[0])
