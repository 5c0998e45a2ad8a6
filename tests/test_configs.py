"""Every committed config builds; the transformer config loads MiniLM offline."""
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example

CONFIG_DIR = Path(__file__).parents[1] / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.cfg"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_builds(path):
    config = spacy.util.load_config(path)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    assert nlp.pipe_names == config["nlp"]["pipeline"]


def test_no_absolute_paths_or_hub_names_in_configs():
    for path in CONFIGS:
        text = path.read_text()
        assert "/home/" not in text and "/root/" not in text and "/work/" not in text, path
        assert "roberta-base" not in text and "bert-base" not in text, path


def test_transformer_config_runs_offline_on_minilm(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    nlp = spacy.util.load_model_from_config(spacy.util.load_config(CONFIG_DIR / "ner_trf.cfg"), auto_fill=True)
    doc = Doc(nlp.vocab, words=["Alice", "works", "for", "Acme", "."])
    ref = Doc(nlp.vocab, words=["Alice", "works", "for", "Acme", "."])
    ref.ents = [Span(ref, 0, 1, label="PER"), Span(ref, 3, 4, label="ORG")]
    nlp.initialize(lambda: [Example(doc, ref)])
    out = nlp("Bob visited Paris.")
    hidden = out._.trf_data.tensors[0]
    assert hidden.shape[-1] == 384  # MiniLM-L6 width: the packaged weights were used
