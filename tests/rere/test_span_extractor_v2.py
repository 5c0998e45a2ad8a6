"""spacy-relext.SpanExtractor.v2: pointers that read the whole sentence, conditioned on
the relation (issue 21). A cue far from the arguments decides which one is the subject."""

import numpy
import pytest
import spacy
from spacy.util import fix_random_seed, load_model_from_config
from thinc.api import Config

from rere_fixtures import make_examples, triples
from spacy_relext.rere.architectures import sentence_query_index
from spacy_relext.rere.span_extractor import DEFAULT_EXTRACTOR_MODEL_CONFIG

# Two people, then eleven filler tokens, then "the former" or "the latter" works for an
# organisation. Only the cue (token 14) says which person is the subject of Work_For,
# and it is 12 or more tokens from both: beyond v1's receptive field (about +-6 tokens:
# tok2vec's four window-1 layers and the extractor's two). The sentences of a pair
# differ in the cue alone.
FILLER = "near the old mill by the quiet river yesterday ;"
CUE, OBJECT = 14, (17, 18)
FAR_CUE_DATA = [
    (f"{first} met {second} {FILLER} the {cue} works for {org} .", [((subj, subj + 1), OBJECT, "Work_For")])
    for first, second, org in (("Alice", "Bob", "Acme"), ("Carol", "Dave", "Globex"))
    for cue, subj in (("former", 0), ("latter", 2))
]
UPDATES = 300


def extractor_model(architecture, **settings):
    """The factory's default model config (its own tok2vec) with another architecture."""
    tok2vec = Config().from_str(DEFAULT_EXTRACTOR_MODEL_CONFIG)["model"]["tok2vec"]
    return {"@architectures": architecture, "tok2vec": tok2vec, **settings}


def train_far_cue(architecture, updates=UPDATES):
    """The extractor alone (every label queried) trained on the far-cue sentences."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("span_extractor", config={"query_all_labels": True, "model": extractor_model(architecture)})
    examples = make_examples(nlp, FAR_CUE_DATA)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(updates):
        losses = nlp.update(examples, sgd=optimizer)
    return nlp, losses


def subject_start_probs(nlp):
    """P(subject start) at the two people (tokens 0 and 2) of each far-cue sentence."""
    extractor = nlp.get_pipe("span_extractor")
    docs = [nlp.make_doc(text) for text, _ in FAR_CUE_DATA]
    queries = extractor.model.ops.asarray2i([[d, 0, len(doc), 0] for d, doc in enumerate(docs)])
    probs = extractor.model.ops.to_numpy(extractor.model.ops.sigmoid(extractor.model.predict((docs, queries))))
    return probs.reshape((len(docs), len(docs[0]), 4))[:, [0, 2], 0]


def outputs(nlp, texts, **kwargs):
    return [[(r.key, round(r.score, 6)) for r in doc._.relations] for doc in nlp.pipe(texts, **kwargs)]


TEXTS = [text for text, _ in FAR_CUE_DATA]


@pytest.fixture(scope="module")
def far_cue_v2():
    return train_far_cue("spacy-relext.SpanExtractor.v2")


def test_far_cue_data_puts_the_cue_out_of_v1_reach():
    for text, ((subject, _, _),) in FAR_CUE_DATA:
        words = text.split()
        assert words[CUE] in ("former", "latter") and words[OBJECT[0]] in ("Acme", "Globex")
        assert min(abs(CUE - 0), abs(CUE - 2)) > 8


def test_v2_learns_the_subject_from_a_far_cue(far_cue_v2):
    nlp, losses = far_cue_v2
    assert losses["span_extractor"] < 0.01
    for text, rels in FAR_CUE_DATA:
        assert triples(nlp(text)) == {(head, tail, label) for head, tail, label in rels}
    probs = subject_start_probs(nlp)
    assert (probs[[0, 2], 0] > 0.5).all() and (probs[[1, 3], 1] > 0.5).all()  # "former": first person
    assert (probs[[0, 2], 1] < 0.5).all() and (probs[[1, 3], 0] < 0.5).all()


def test_v1_cannot_see_the_far_cue():
    """v1 trained the same way gives the two people the same subject-start probability
    in both sentences of a pair (they differ only outside its window), so it cannot get
    both sentences of a pair right."""
    nlp, _ = train_far_cue("spacy-relext.SpanExtractor.v1")
    probs = subject_start_probs(nlp)
    assert numpy.allclose(probs[0], probs[1], atol=1e-6) and numpy.allclose(probs[2], probs[3], atol=1e-6)
    correct = [triples(nlp(text)) == {(h, t, lab) for h, t, lab in rels} for text, rels in FAR_CUE_DATA]
    assert not (correct[0] and correct[1]) and not (correct[2] and correct[3])


def test_v2_disk_and_bytes_round_trips(far_cue_v2, tmp_path):
    """The torch module is built at initialize (its widths come from tok2vec and the
    labels); a pipeline rebuilt from config rebuilds it from the saved dims."""
    nlp, _ = far_cue_v2
    nlp.to_disk(tmp_path)
    from_disk = spacy.load(tmp_path)
    from_bytes = load_model_from_config(nlp.config, auto_fill=True).from_bytes(nlp.to_bytes())
    expected = outputs(nlp, TEXTS + [""])
    assert any(expected)
    assert outputs(from_disk, TEXTS + [""]) == expected and outputs(from_bytes, TEXTS + [""]) == expected
    assert from_disk.get_pipe("span_extractor").model.name == "sentence_span_extractor"


def test_v2_multiprocessing(far_cue_v2):
    nlp, _ = far_cue_v2
    assert outputs(nlp, TEXTS * 2, n_process=2, batch_size=2) == outputs(nlp, TEXTS * 2)


def test_v2_mixed_batches_and_empty_queries(far_cue_v2):
    """Queries without tokens have no output rows; the others' logits do not depend on
    the rest of the batch (the BiLSTM is packed, so padding is never read)."""
    nlp, _ = far_cue_v2
    model = nlp.get_pipe("span_extractor").model
    docs = [nlp.make_doc(text) for text in (TEXTS[0], "", TEXTS[1][:40])]
    queries = model.ops.asarray2i([[0, 0, len(docs[0]), 0], [1, 0, 0, 0], [2, 0, len(docs[2]), 0]])
    together = model.predict((docs, queries))
    assert together.shape == (len(docs[0]) + len(docs[2]), 4)
    alone = [model.predict(([doc], model.ops.asarray2i([[0, 0, len(doc), 0]]))) for doc in (docs[0], docs[2])]
    assert numpy.allclose(together, numpy.concatenate(alone), atol=1e-5)
    assert model.predict((docs[1:2], model.ops.asarray2i([[0, 0, 0, 0]]))).shape == (0, 4)
    assert [triples(doc) for doc in nlp.pipe(["", TEXTS[0], " "])] == [set(), {((0, 1), OBJECT, "Work_For")}, set()]


def test_sentence_query_index():
    queries = numpy.asarray([[0, 1, 3, 2], [1, 0, 0, 1], [1, 0, 2, 0]])
    rows, lengths, labels = sentence_query_index(queries, [4, 2])
    assert rows.tolist() == [[1, 2], [4, 5]] and lengths.tolist() == [2, 2] and labels.tolist() == [2, 0]


@pytest.mark.parametrize("settings", [{"hidden_width": 7}, {"hidden_width": 0}, {"depth": 0}])
def test_v2_invalid_settings(settings):
    with pytest.raises(ValueError, match="E230"):
        spacy.blank("en").add_pipe("span_extractor", config={"model": extractor_model("spacy-relext.SpanExtractor.v2", **settings)})


def test_v2_deeper_bilstm_trains():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    model = extractor_model("spacy-relext.SpanExtractor.v2", depth=2, hidden_width=32)
    nlp.add_pipe("span_extractor", config={"query_all_labels": True, "model": model})
    examples = make_examples(nlp, FAR_CUE_DATA[:2])
    optimizer = nlp.initialize(lambda: examples)
    first = nlp.update(examples, sgd=optimizer, drop=0.1)["span_extractor"]
    for _ in range(5):
        last = nlp.update(examples, sgd=optimizer, drop=0.1)["span_extractor"]
    assert 0 < last < first
