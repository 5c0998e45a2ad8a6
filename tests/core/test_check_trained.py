"""`python -m spacy_relext check-trained`: a `spacy train` run shorter than its
eval_frequency is evaluated only at step 0, so its model-best is the pipeline after one
update; the check refuses it (E140), warns when the last steps were never evaluated
(W070), and passes a run whose last step was evaluated. The runs are real `spacy train`
runs of a tiny tagger (a few seconds each)."""
import pytest
import spacy
from spacy.cli.train import train
from spacy.tokens import DocBin

from spacy_relext.cli import main
from spacy_relext.training_check import check_trained, largest_divisor_at_most

TINY_CONFIG = """
[paths]
train = null
dev = null

[nlp]
lang = "en"
pipeline = ["tagger"]
batch_size = 4

[components]

[components.tagger]
factory = "tagger"

[components.tagger.model]
@architectures = "spacy.Tagger.v2"
nO = null

[components.tagger.model.tok2vec]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = 16
depth = 1
embed_size = 64
window_size = 1
maxout_pieces = 2
subword_features = false

[corpora]

[corpora.train]
@readers = "spacy.Corpus.v1"
path = ${paths.train}

[corpora.dev]
@readers = "spacy.Corpus.v1"
path = ${paths.dev}

[training]
seed = 0
gpu_allocator = null
max_steps = 3
eval_frequency = 10

[training.batcher]
@batchers = "spacy.batch_by_sequence.v1"
size = 2
"""
SENTENCES = [("Alice works for Acme .", ["PROPN", "VERB", "ADP", "PROPN", "PUNCT"]),
             ("Bob lives in Paris .", ["PROPN", "VERB", "ADP", "PROPN", "PUNCT"])]


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    nlp = spacy.blank("en")
    docs = []
    for text, tags in SENTENCES * 2:
        doc = nlp(text)
        for token, tag in zip(doc, tags):
            token.tag_ = tag
        docs.append(doc)
    DocBin(docs=docs).to_disk(root / "data.spacy")
    (root / "tiny.cfg").write_text(TINY_CONFIG, encoding="utf8")
    return root


def train_tiny(root, name, max_steps, eval_frequency):
    output = root / name
    overrides = {"paths.train": str(root / "data.spacy"), "paths.dev": str(root / "data.spacy"),
                 "training.max_steps": max_steps, "training.eval_frequency": eval_frequency}
    train(root / "tiny.cfg", output, overrides=overrides)
    return output / "model-best"


def test_run_shorter_than_eval_frequency_is_refused(tiny_project, capsys):
    model_best = train_tiny(tiny_project, "short", max_steps=3, eval_frequency=10)
    assert (model_best / "meta.json").is_file()  # spaCy saved it, scores of step 0 and all
    with pytest.raises(ValueError, match=r"\[E140\] .*model-best was never evaluated after step 0: `spacy train` "
                                         r"ran max_steps = 3 steps but evaluates every eval_frequency = 10 steps"
                                         r".*--training\.eval_frequency 3"):
        check_trained(model_best)
    with pytest.raises(SystemExit) as exit_info:
        main(["check-trained", str(model_best)])
    assert exit_info.value.code == 1 and "[E140]" in capsys.readouterr().err


def test_unevaluated_last_steps_warn(tiny_project):
    model_best = train_tiny(tiny_project, "tail", max_steps=5, eval_frequency=2)
    with pytest.warns(UserWarning, match=r"\[W070\] .*evaluated steps 0 to 4 only .* the last 1 steps were never"):
        check = check_trained(model_best)
    assert check.last_evaluated_step == 4


def test_run_evaluated_at_its_last_step_passes(tiny_project, capsys, recwarn):
    model_best = train_tiny(tiny_project, "evaluated", max_steps=4, eval_frequency=2)
    main(["check-trained", str(model_best)])
    out = capsys.readouterr().out
    assert "evaluated at steps 0, 2, ..., 4 (max_steps 4); dev scores: tag_acc " in out
    assert not [w for w in recwarn if "spacy-relext" in str(w.message)]


def test_not_a_training_output(tmp_path):
    with pytest.raises(ValueError, match=r"\[E141\] .* is not a pipeline saved by `spacy train`: no config.cfg"):
        check_trained(tmp_path)


@pytest.mark.parametrize("max_steps,eval_frequency,expected", [(100, 200, 100), (300, 200, 150), (7, 5, 1),
                                                               (2, 200, 2)])
def test_suggested_eval_frequency_evaluates_the_last_step(max_steps, eval_frequency, expected):
    assert largest_divisor_at_most(max_steps, eval_frequency) == expected
