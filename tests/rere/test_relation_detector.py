"""relation_detector and the cPU / BCE losses (Xie et al., 2021, section 4.3)."""

import math
import pickle

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.util import fix_random_seed

from rere_fixtures import LABELS, TRAIN_DATA, make_examples
from spacy_relext.rere.pu_loss import bce_loss, cpu_loss, cpu_mu, loss_and_gradient
from spacy_relext.rere.relation_detector import RelationDetector  # noqa: F401 (registers the factory)
from spacy_relext.relations import get_sentence_scores
from spacy_relext.scorer import score_relation_detection

PROBS = [[0.8, 0.2, 0.4], [0.6, 0.5, 0.1]]
TARGETS = [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]


def logits(probs):
    p = torch.tensor(probs, dtype=torch.float64)
    return torch.log(p / (1 - p))


def test_cpu_loss_hand_example():
    # sample 1: pos = 0.8, neg = (0.2 + 0.4) / 2 = 0.3 -> 0.5 * -ln(0.8) - ln(1 - |0.3 - 0.25|) = 0.1628651
    # sample 2: pos = (0.6 + 0.5) / 2 = 0.55, neg = 0.1 -> 0.5 * -ln(0.55) - ln(1 - 0.15) = 0.4614374
    loss = cpu_loss(logits(PROBS), torch.tensor(TARGETS), gamma=0.5, mu=0.25)
    assert loss.item() == pytest.approx((0.1628651 + 0.4614374) / 2, abs=1e-6)


def test_cpu_loss_mask_and_unlabelled_only_sample():
    # padding (mask 0) is ignored; a sample with no positive contributes only -ln(1 - |0.4 - 0.25|)
    probs = PROBS + [[0.4, 0.4, 0.99]]
    targets = TARGETS + [[0.0, 0.0, 0.0]]
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    loss = cpu_loss(logits(probs), torch.tensor(targets), mask, gamma=0.5, mu=0.25)
    assert loss.item() == pytest.approx((0.1628651 + 0.4614374 + 0.1625189) / 3, abs=1e-6)


def test_bce_loss_is_mean_over_valid_items():
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    expected = -(math.log(0.8) + math.log(0.8) + math.log(0.6) + math.log(0.5) + math.log(0.9)) / 5
    assert bce_loss(logits(PROBS), torch.tensor(TARGETS), mask).item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("loss", ["cpu", "bce"])
def test_loss_and_gradient_matches_autograd(loss):
    x = numpy.asarray(logits(PROBS).numpy(), dtype="float32")
    y = numpy.asarray(TARGETS, dtype="float32")
    value, grad = loss_and_gradient(loss, x, y, gamma=0.5, mu=0.25)
    t = torch.tensor(x, requires_grad=True)
    ref = cpu_loss(t, torch.tensor(y), gamma=0.5, mu=0.25) if loss == "cpu" else bce_loss(t, torch.tensor(y))
    ref.backward()
    assert value == pytest.approx(ref.item(), abs=1e-6)
    numpy.testing.assert_allclose(grad, t.grad.numpy(), atol=1e-6)
    assert loss_and_gradient(loss, numpy.zeros((0, 3), dtype="float32"), numpy.zeros((0, 3), dtype="float32"))[0] == 0


def test_prior_and_mu_estimated_from_training_labels():
    nlp = spacy.blank("en")
    detector = nlp.add_pipe("relation_detector", config={"tau": 0.1})
    nlp.initialize(lambda: make_examples(nlp))
    n_positive = sum(len({lab for _, _, lab in rels}) for _, rels in TRAIN_DATA)
    assert detector.cfg["prior"] == pytest.approx(n_positive / (len(TRAIN_DATA) * len(LABELS)))
    assert cpu_mu(detector.cfg["prior"], 0.1) == pytest.approx(detector.cfg["prior"] * 1.1)


def test_add_pipe_alone_trains_and_predicts():
    nlp = spacy.blank("en")
    detector = nlp.add_pipe("relation_detector")
    optimizer = nlp.initialize(lambda: make_examples(nlp))
    assert detector.labels == tuple(LABELS)
    losses = nlp.update(make_examples(nlp), sgd=optimizer)
    assert losses["relation_detector"] > 0
    doc = nlp("Obama was born in Hawaii .")
    scores = doc[:]._.relation_scores
    assert isinstance(scores, dict) and all(lab in LABELS and 0.5 <= s <= 1 for lab, s in scores.items())


def test_no_label():
    nlp = spacy.blank("en")
    nlp.add_pipe("relation_detector")
    with pytest.raises(ValueError, match="E400"):
        nlp.initialize(lambda: make_examples(nlp, [("No relation here .", [])]))


def test_no_resize():
    nlp = spacy.blank("en")
    detector = nlp.add_pipe("relation_detector")
    nlp.initialize(lambda: make_examples(nlp))
    with pytest.raises(ValueError, match="E401"):
        detector.add_label("new_label")


@pytest.mark.parametrize(
    "config,code", [({"loss": "mse"}, "E600"), ({"threshold": 1.5}, "E602"), ({"tau": -1}, "E604")]
)
def test_invalid_settings(config, code):
    with pytest.raises(ValueError, match=code):
        spacy.blank("en").add_pipe("relation_detector", config=config)


def test_overfit_sentences_with_bce():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("relation_detector", config={"loss": "bce"})
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(40):
        nlp.update(examples, sgd=optimizer)
    for text, rels in TRAIN_DATA:
        assert set(nlp(text)[:]._.relation_scores) == {lab for _, _, lab in rels}
    assert nlp.evaluate(examples)["rel_detect_f"] == 1.0


def test_cpu_loss_recovers_positives():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("relation_detector")
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(40):
        nlp.update(examples, sgd=optimizer)
    assert nlp.evaluate(examples)["rel_detect_r"] == 1.0


def test_sentence_scores_survive_docbin_pickle_and_from_docs():
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("relation_detector", config={"threshold": 0.0})
    nlp.initialize(lambda: make_examples(nlp))
    doc = nlp("Obama was born in Hawaii . Paris is the capital of France .")
    expected = [get_sentence_scores(sent) for sent in doc.sents]
    assert len(expected) == 2 and all(len(scores) == len(LABELS) for scores in expected)
    doc_bin = DocBin(store_user_data=True, docs=[doc])
    restored = list(DocBin().from_bytes(doc_bin.to_bytes()).get_docs(nlp.vocab))[0]
    assert [sent._.relation_scores for sent in restored.sents] == expected
    assert [get_sentence_scores(s) for s in pickle.loads(pickle.dumps(doc)).sents] == expected
    merged = Doc.from_docs([nlp("The weather is nice today ."), doc])
    assert [get_sentence_scores(s) for s in merged.sents][1:] == expected


def test_detection_scorer_hand_example():
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    examples = make_examples(
        nlp,
        [
            (
                "Obama was born in Hawaii . Paris is the capital of France .",
                [((0, 1), (4, 5), "born_in"), ((6, 7), (11, 12), "capital_of")],
            )
        ],
    )
    eg = examples[0]
    eg.predicted = nlp.get_pipe("sentencizer")(eg.predicted)
    first, second = list(eg.predicted.sents)
    first._.relation_scores = {"born_in": 0.9, "lives_in": 0.6}  # 1 TP, 1 FP
    second._.relation_scores = {}  # 1 FN
    scores = score_relation_detection([Example(eg.predicted, eg.reference)])
    assert (scores["rel_detect_p"], scores["rel_detect_r"]) == (0.5, 0.5)
    assert scores["rel_detect_per_type"]["capital_of"]["r"] == 0.0
