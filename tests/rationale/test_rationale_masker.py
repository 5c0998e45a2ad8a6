"""The `rationale_masker` component (RE2): training, rationales, serialization, edge cases."""
import math
import pickle
import warnings

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.util import load_model_from_config, load_model_from_path
from thinc.api import Config, fix_random_seed

from spacy_relext.relations import Relation, get_relations
from spacy_relext.visualize import render_rationale, render_rationale_html

# words, entities (start, end, label[, cluster id]), relations (head, tail offsets, label)
TRAIN_DATA = [
    (
        ["Alice", "works", "for", "Acme", "in", "Paris", "."],
        [(0, 1, "PER"), (3, 4, "ORG"), (5, 6, "LOC")],
        [((0, 1), (3, 4), "Work_For"), ((3, 4), (5, 6), "Located_In")],
    ),
    (
        ["Bob", "lives", "in", "Berlin", "."],
        [(0, 1, "PER"), (3, 4, "LOC")],
        [((0, 1), (3, 4), "Live_In")],
    ),
    (
        ["The", "storm", "hit", "Rome", "and", "Carol", "left", "."],
        [(3, 4, "LOC"), (5, 6, "PER")],
        [],
    ),
    (
        ["Dana", "Smith", "joined", "Initech", "last", "year", "."],
        [(0, 2, "PER"), (3, 4, "ORG")],
        [((0, 2), (3, 4), "Work_For")],
    ),
]
NAME = "rationale_masker"


def make_doc(vocab, words, ents, rels=()):
    doc = Doc(vocab, words=words)
    doc.ents = [Span(doc, s, e, label=label) for s, e, label in ents]
    doc._.relations = [Relation(head=doc[h[0] : h[1]], tail=doc[t[0] : t[1]], label=label) for h, t, label in rels]
    return doc


def make_examples(nlp, data=TRAIN_DATA):
    examples = []
    for words, ents, rels in data:
        predicted = make_doc(nlp.vocab, words, ents)
        reference = make_doc(nlp.vocab, words, ents, rels)
        examples.append(Example(predicted, reference))
    return examples


def relation_view(doc):
    """Everything a prediction says, rationale included, as plain data."""
    return [
        (rel.head.start, rel.head.end, rel.tail.start, rel.tail.end, rel.label, round(rel.score, 5),
         tuple((span.start, span.end) for span in rel.rationale))
        for rel in get_relations(doc)
    ]


def train(nlp, examples, n_iter=50):
    fix_random_seed(0)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    losses = {}
    for _ in range(n_iter):
        losses = {}
        nlp.update(examples, sgd=optimizer, losses=losses)
    return losses


@pytest.fixture(scope="module")
def trained():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe(NAME, config={"anneal_steps": 40})
    examples = make_examples(nlp)
    losses = train(nlp, examples)
    return nlp, examples, losses


def test_add_pipe_alone():
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe(NAME)
    assert pipe.labels == ()
    assert nlp.get_pipe_meta(NAME).assigns == ["doc._.relations"]


def test_no_label():
    nlp = spacy.blank("en")
    nlp.add_pipe(NAME)
    examples = make_examples(nlp, [TRAIN_DATA[2]])
    with pytest.raises(ValueError, match="E400"):
        nlp.initialize(get_examples=lambda: examples)


def test_explicit_labels_and_no_resize():
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe(NAME)
    examples = make_examples(nlp)
    pipe.add_label("A")
    pipe.add_label("B")
    nlp.initialize(get_examples=lambda: examples)
    assert set(pipe.labels) >= {"A", "B", "Work_For"}
    with pytest.raises(ValueError, match="E401"):
        pipe.add_label("C")


@pytest.mark.parametrize(
    "config,code",
    [
        ({"model": {"k_ratio": 0.0}}, "E500"),
        ({"model": {"k_ratio": 1.5}}, "E500"),
        ({"model": {"roles": "markers"}}, "E504"),
        ({"pair_level": "sentence"}, "E501"),
        ({"temperature_end": 0.0}, "E502"),
        ({"max_region_length": 0}, "E306"),
    ],
)
def test_invalid_settings(config, code):
    nlp = spacy.blank("en")
    if "model" in config:
        model = Config().from_str(
            '[model]\n@architectures = "spacy-relext.RationaleMasker.v2"\n'
            '[model.tok2vec]\n@architectures = "spacy.HashEmbedCNN.v2"\npretrained_vectors = null\n'
            "width = 32\ndepth = 1\nembed_size = 500\nwindow_size = 1\nmaxout_pieces = 2\nsubword_features = true\n"
        )["model"]
        model.update(config["model"])
        config = {"model": model}
    with pytest.raises(ValueError, match=code):
        nlp.add_pipe(NAME, config=config)


def test_overfitting_predictions_equal_gold(trained):
    nlp, examples, losses = trained
    assert losses[NAME] < 0.01
    for eg in examples:
        doc = nlp(eg.predicted.copy())
        predicted = {rel.key for rel in doc._.relations}
        gold = {rel.key for rel in eg.reference._.relations}
        assert predicted == gold
    scores = nlp.evaluate(examples)
    assert scores["rel_p"] == scores["rel_r"] == scores["rel_f"] == 1.0


def test_rationales_are_contiguous_in_doc_and_within_budget(trained):
    nlp, examples, _ = trained
    k_ratio = nlp.get_pipe(NAME).model.attrs["k_ratio"]
    docs = list(nlp.pipe(eg.predicted.copy() for eg in examples))
    assert sum(len(doc._.relations) for doc in docs) > 0
    for doc in docs:
        for rel in doc._.relations:
            assert rel.source == NAME and 0.0 <= rel.score <= 1.0
            spans = rel.rationale
            assert all(span.doc is doc and 0 <= span.start < span.end <= len(doc) for span in spans)
            # Maximal segments: sorted, disjoint and not touching.
            assert all(a.end < b.start for a, b in zip(spans, spans[1:]))
            selected = sum(len(span) for span in spans)
            assert selected <= math.ceil(k_ratio * len(doc))  # one sentence: the region is the doc


def test_serialization_round_trips_keep_predictions(trained, tmp_path):
    nlp, examples, _ = trained
    texts = [eg.predicted.copy() for eg in examples]
    expected = [relation_view(doc) for doc in nlp.pipe(doc.copy() for doc in texts)]
    nlp.to_disk(tmp_path)
    from_disk = load_model_from_path(tmp_path)
    assert [relation_view(doc) for doc in from_disk.pipe(doc.copy() for doc in texts)] == expected
    from_bytes = spacy.blank("en")
    from_bytes.add_pipe(NAME, config={"anneal_steps": 40})
    from_bytes.from_bytes(nlp.to_bytes())
    assert [relation_view(doc) for doc in from_bytes.pipe(doc.copy() for doc in texts)] == expected
    # Pipe-level bytes round trip into a pipe rebuilt from config.
    pipe = nlp.get_pipe(NAME)
    fresh = spacy.blank("en").add_pipe(NAME, config={"anneal_steps": 40})
    fresh.from_bytes(pipe.to_bytes())
    assert [relation_view(fresh(doc.copy())) for doc in texts] == expected


def test_relations_survive_docbin_and_pickle(trained):
    nlp, examples, _ = trained
    doc = nlp(examples[0].predicted.copy())
    expected = relation_view(doc)
    restored = list(DocBin(docs=[doc], store_user_data=True).get_docs(nlp.vocab))[0]
    assert relation_view(restored) == expected
    assert relation_view(pickle.loads(pickle.dumps(doc))) == expected


def test_pipe_n_process_2(trained):
    nlp, examples, _ = trained
    docs = [eg.predicted.copy() for eg in examples]
    single = [relation_view(doc) for doc in nlp.pipe(doc.copy() for doc in docs)]
    multi = [relation_view(doc) for doc in nlp.pipe((doc.copy() for doc in docs), n_process=2, batch_size=2)]
    assert multi == single


@pytest.mark.parametrize(
    "words,ents",
    [([], []), (["Hello", "world"], []), (["Alice", "slept", "."], [(0, 1, "PER")])],
    ids=["empty", "no-entity", "one-entity"],
)
def test_zero_candidates(trained, words, ents):
    nlp, _, _ = trained
    doc = nlp(make_doc(nlp.vocab, words, ents))
    assert doc._.relations == []


def test_mixed_batch_and_update_without_candidates(trained):
    nlp, examples, _ = trained
    pipe = nlp.get_pipe(NAME)
    empty = make_doc(nlp.vocab, [], [])
    docs = list(pipe.pipe([empty, examples[0].predicted.copy(), make_doc(nlp.vocab, ["Hi"], [])]))
    assert docs[0]._.relations == [] and docs[2]._.relations == []
    assert len(docs[1]._.relations) > 0
    losses = pipe.update([Example(empty, make_doc(nlp.vocab, [], []))])
    assert losses[NAME] == 0.0


def test_long_region_is_cut_around_the_arguments_with_a_warning(trained):
    nlp, _, _ = trained
    words = ["filler"] * 700 + ["Alice", "works", "for", "Acme", "."]
    doc = make_doc(nlp.vocab, words, [(700, 701, "PER"), (703, 704, "ORG")])
    pipe = nlp.get_pipe(NAME)
    with pytest.warns(UserWarning, match="W005"):  # one 705-token "sentence", on purpose
        with pytest.warns(UserWarning, match=r"\[W031\] 2 candidate pair\(s\) .* max_region_length=512 .* 705 tokens"):
            doc = nlp(doc)
            regions, pairs = pipe.make_pairs([doc])
    assert [pair.region for pair in regions.pairs] == [(193, 705), (193, 705)]  # 512 tokens, arguments inside
    for rel in doc._.relations:
        assert all(193 <= span.start and span.end <= 705 for span in rel.rationale)
        assert sum(len(span) for span in rel.rationale) <= math.ceil(0.6 * 512)


def test_long_region_is_kept_whole_without_a_limit(trained):
    nlp, _, _ = trained
    words = ["filler"] * 700 + ["Alice", "works", "for", "Acme", "."]
    doc = make_doc(nlp.vocab, words, [(700, 701, "PER"), (703, 704, "ORG")])
    pipe = nlp.get_pipe(NAME)
    pipe.cfg["max_region_length"] = None
    try:
        with pytest.warns(UserWarning, match="W005"):
            doc = nlp(doc)
            pairs, logits, masks = pipe.predict([doc])
    finally:
        pipe.cfg["max_region_length"] = 512
    assert len(pairs) == 2 and masks.shape[1] == len(words)
    for rel in doc._.relations:
        assert sum(len(span) for span in rel.rationale) <= math.ceil(0.6 * len(words))


def test_sentence_regions(trained):
    nlp, _, _ = trained
    pipe = nlp.get_pipe(NAME)
    words = ["Bob", "lives", "in", "Berlin", ".", "Alice", "works", "for", "Acme", "."]
    doc = make_doc(nlp.vocab, words, [(0, 1, "PER"), (3, 4, "LOC"), (5, 6, "PER"), (8, 9, "ORG")])
    for token in doc:
        token.is_sent_start = token.i in (0, 5)
    regions, pairs = pipe.make_pairs([doc])
    assert len(pairs) == 4  # sentence-scope candidates
    assert {pair.region for pair in regions.pairs} == {(0, 5), (5, 10)}
    for rel in nlp.get_pipe(NAME)(doc)._.relations:
        sentence = rel.head.sent
        assert all(sentence.start <= span.start and span.end <= sentence.end for span in rel.rationale)


def test_keep_candidates_writes_every_label(trained):
    nlp, examples, _ = trained
    pipe = nlp.get_pipe(NAME)
    doc = examples[2].predicted.copy()
    assert pipe(doc.copy())._.relations == []
    pipe.cfg["keep_candidates"] = True
    try:
        rels = pipe(doc.copy())._.relations
    finally:
        pipe.cfg["keep_candidates"] = False
    assert len(rels) == 2 * len(pipe.labels)
    assert all(rel.score < 0.5 for rel in rels)
    # A floor keeps exactly the labels at or above it, with the same scores.
    floor = sorted(rel.score for rel in rels)[len(rels) // 2]
    pipe.cfg.update(keep_candidates=True, candidate_floor=floor)
    try:
        kept = pipe(doc.copy())._.relations
    finally:
        pipe.cfg.update(keep_candidates=False, candidate_floor=0.0)
    expected = {(r.head.start, r.tail.start, r.label, r.score) for r in rels if r.score >= floor}
    assert 0 < len(kept) < len(rels)
    assert {(r.head.start, r.tail.start, r.label, r.score) for r in kept} == expected


@pytest.mark.parametrize("floor", [-0.1, 1.0])
def test_candidate_floor_out_of_range_is_a_clear_error(floor):
    with pytest.raises(ValueError, match=r"\[E503\]"):
        spacy.blank("en").add_pipe(NAME, config={"candidate_floor": floor})


def test_render_rationale(trained):
    nlp, examples, _ = trained
    doc = Doc(nlp.vocab, words=["Alice", "works", "for", "Acme", "."])
    rel = Relation(head=doc[0:1], tail=doc[3:4], label="Work_For", rationale=(doc[0:3],))
    assert render_rationale(rel) == "[<e1>Alice</e1> works for] <e2>Acme</e2> ."
    assert render_rationale_html(rel) == "<mark><b>Alice</b> works for</mark> <b>Acme</b> ."
    predicted = nlp(examples[0].predicted.copy())._.relations[0]
    assert "[" in render_rationale(predicted) and "<e2>" in render_rationale(predicted)


@pytest.mark.parametrize(
    "options",
    [
        {"continuity": False},
        {"sparsity": False},
        {"add_entities": False},
        {"token_continuity": True},
        {"masking": False},
        {"implicit_gradient": True, "straight_through": True},
        {"roles": "none"},
        {"roles": "typed"},
        {"faithful": True},
        {"faithful": True, "roles": "none", "add_entities": False},
        {"architecture": "v1"},
    ],
    ids=["no-continuity", "no-sparsity", "no-entities", "token-continuity", "no-mask", "implicit-st", "no-roles",
         "typed-roles", "faithful", "faithful-bare", "v1"],
)
def test_ablation_switches_train_and_predict(options):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    options = dict(options)
    version = options.pop("architecture", "v2")
    config = Config().from_str(
        f'[model]\n@architectures = "spacy-relext.RationaleMasker.{version}"\n'
        '[model.tok2vec]\n@architectures = "spacy.HashEmbedCNN.v2"\npretrained_vectors = null\n'
        "width = 32\ndepth = 1\nembed_size = 500\nwindow_size = 1\nmaxout_pieces = 2\nsubword_features = true\n"
    )
    config["model"].update(options)
    nlp.add_pipe(NAME, config={"model": config["model"]})
    examples = make_examples(nlp)
    losses = train(nlp, examples, n_iter=3)
    assert math.isfinite(losses[NAME])
    pairs, logits, masks = nlp.get_pipe(NAME).predict([eg.predicted for eg in examples])
    n_pairs = [len(eg.predicted.ents) * (len(eg.predicted.ents) - 1) for eg in examples]
    lengths = [len(eg.predicted) for eg, n in zip(examples, n_pairs) for _ in range(n)]
    selected = masks.sum(1)
    if options.get("masking") is False:
        assert list(selected) == lengths
    elif options.get("sparsity") is not False:
        assert all(s <= math.ceil(0.6 * n) for s, n in zip(selected, lengths))


CLUSTER_DATA = [
    (
        ["Alice", "founded", "Acme", ".", "She", "runs", "Acme", "Corp", "."],
        [(0, 1, "PER", "alice"), (2, 3, "ORG", "acme"), (4, 5, "PER", "alice"), (6, 8, "ORG", "acme")],
        [((0, 1), (2, 3), "Founded")],
    ),
    (
        ["Bob", "met", "Carol", ".", "Carol", "smiled", "."],
        [(0, 1, "PER", "bob"), (2, 3, "PER", "carol"), (4, 5, "PER", "carol")],
        [],
    ),
]


def make_cluster_doc(vocab, words, ents, rels=()):
    doc = Doc(vocab, words=words, sent_starts=[i == 0 or words[i - 1] == "." for i in range(len(words))])
    doc.ents = [Span(doc, s, e, label=label, span_id=cid) for s, e, label, cid in ents]
    doc._.relations = [Relation(head=doc[h[0] : h[1]], tail=doc[t[0] : t[1]], label=label) for h, t, label in rels]
    return doc


def test_cluster_pairs_document_mode():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe(
        NAME,
        config={"pair_level": "cluster", "candidates": {"@misc": "spacy-relext.entity_pairs.v1", "scope": "document"}},
    )
    examples = [
        Example(make_cluster_doc(nlp.vocab, w, e), make_cluster_doc(nlp.vocab, w, e, r)) for w, e, r in CLUSTER_DATA
    ]
    pipe = nlp.get_pipe(NAME)
    regions, pairs = pipe.make_pairs([examples[0].predicted])
    assert len(pairs) == 2  # alice -> acme and acme -> alice, not one per mention pair
    assert sorted(len(pair.heads) for pair in regions.pairs) == [2, 2]
    # The shortest sentence span holding a mention of each cluster (both sentences hold
    # one of each; the first is shorter), not every sentence that mentions either.
    assert regions.pairs[0].region == (0, 4)
    far = make_cluster_doc(nlp.vocab, ["Alice", "slept", ".", "Acme", "hired", "Alice", "."],
                           [(0, 1, "PER", "alice"), (3, 4, "ORG", "acme"), (5, 6, "PER", "alice")])
    assert [pair.region for pair in pipe.make_pairs([far])[0].pairs] == [(3, 7), (3, 7)]
    losses = train(nlp, examples, n_iter=40)
    assert losses[NAME] < 0.05
    doc = nlp(examples[0].predicted.copy())
    assert [(rel.head.text, rel.tail.text, rel.label) for rel in doc._.relations] == [("Alice", "Acme", "Founded")]
    assert nlp(examples[1].predicted.copy())._.relations == []


def test_temperature_anneals():
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe(NAME, config={"temperature_start": 1.0, "temperature_end": 0.1, "anneal_steps": 10})
    assert pipe.temperature == pytest.approx(1.0)
    pipe.n_updates = 5
    assert pipe.temperature == pytest.approx(math.sqrt(0.1))
    pipe.n_updates = 50
    assert pipe.temperature == pytest.approx(0.1)


LISTENER_CONFIG = """
[nlp]
lang = "en"
pipeline = ["tok2vec","rationale_masker"]

[components]

[components.tok2vec]
factory = "tok2vec"

[components.tok2vec.model]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = 32
depth = 1
embed_size = 500
window_size = 1
maxout_pieces = 2
subword_features = true

[components.rationale_masker]
factory = "rationale_masker"

[components.rationale_masker.model]
@architectures = "spacy-relext.RationaleMasker.v2"

[components.rationale_masker.model.tok2vec]
@architectures = "spacy.Tok2VecListener.v1"
width = 32
upstream = "tok2vec"
"""


def test_listener_config_and_replace_listeners(tmp_path):
    fix_random_seed(0)
    nlp = spacy.util.load_model_from_config(Config().from_str(LISTENER_CONFIG), auto_fill=True, validate=True)
    examples = make_examples(nlp)
    losses = train(nlp, examples, n_iter=5)
    assert math.isfinite(losses[NAME]) and "tok2vec" in losses
    docs = [eg.predicted.copy() for eg in examples]
    expected = [relation_view(doc) for doc in nlp.pipe(doc.copy() for doc in docs)]
    nlp.replace_listeners("tok2vec", NAME, ["model.tok2vec"])
    assert [relation_view(doc) for doc in nlp.pipe(doc.copy() for doc in docs)] == expected
    nlp.to_disk(tmp_path)
    loaded = load_model_from_path(tmp_path)
    assert [relation_view(doc) for doc in loaded.pipe(doc.copy() for doc in docs)] == expected


def test_pair_chunks_bound_the_solver_size():
    from spacy_relext.rationale.architectures import PairRegion, pair_chunks

    pairs = [PairRegion(0, [(0, 1)], [(1, 2)], (0, w)) for w in (10, 10, 10, 30, 10)]
    assert pair_chunks(pairs, 300) == [(0, 3), (3, 4), (4, 5)]  # 3 x 10^2 fits; 30^2 alone exceeds
    assert pair_chunks(pairs, 10**6) == [(0, 5)]
    assert pair_chunks(pairs[:1], 1) == [(0, 1)]


def test_scoring_in_chunks_changes_nothing(trained, monkeypatch):
    """Pairs scored one per call of the torch module (as a document with hundreds of
    entities in one sentence is): the same logits and masks, and one update from the
    same weights gives the same model."""
    import torch

    import spacy_relext.rationale.architectures as masker_model

    nlp, examples, _ = trained

    def after_one_update():
        fix_random_seed(0)
        copy = load_model_from_config(nlp.config, auto_fill=True).from_bytes(nlp.to_bytes())
        pipe = copy.get_pipe(NAME)
        module = pipe.model.get_ref("masker").shims[0]._model
        module.perturb = False  # no noise and no dropout: the update is deterministic
        for layer in module.modules():
            if isinstance(layer, torch.nn.Dropout):
                layer.p = 0.0
        docs = [eg.predicted.copy() for eg in examples]
        before = pipe.model.predict((docs, pipe.make_pairs(docs)[0]))
        pipe.update(examples, sgd=copy.create_optimizer())
        return before, pipe.model.predict((docs, pipe.make_pairs(docs)[0]))

    whole = after_one_update()
    monkeypatch.setattr(masker_model, "MAX_CALL_ELEMENTS", 1)
    parts = after_one_update()
    # float32 sums in another order, then one Adam step (which divides by the gradients'
    # own scale): about 1e-5 apart on some CPUs (AMD EPYC), so 1e-4 with a relative term
    for (logits, masks), (chunked_logits, chunked_masks) in zip(whole, parts):
        assert numpy.allclose(logits, chunked_logits, rtol=1e-4, atol=1e-4)
        assert numpy.array_equal(masks, chunked_masks)


def test_transformer_config_initializes_updates_and_predicts(monkeypatch):
    """configs/rationale_trf.cfg: MiniLM from the installed package through the listener."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    from pathlib import Path

    fix_random_seed(0)
    config = spacy.util.load_config(Path(__file__).parents[2] / "configs" / "rationale_trf.cfg")
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    examples = make_examples(nlp, TRAIN_DATA[:2])
    optimizer = nlp.initialize(get_examples=lambda: examples)
    pipe = nlp.get_pipe(NAME)
    assert pipe.model.get_dim("nI") == 384  # MiniLM-L6 width: the packaged weights were used
    modules = [nlp.get_pipe("transformer").model, pipe.model.get_ref("masker")]

    def torch_params(model):
        return [p for node in model.walk() for shim in node.shims for p in shim._model.parameters()]

    before = [[p.detach().clone() for p in torch_params(m)] for m in modules]
    for _ in range(2):  # the warmup schedule's first learning rate is 0
        losses = {}
        nlp.update(examples, sgd=optimizer, losses=losses)
        optimizer.step_schedules()  # as spacy train's loop does
    assert math.isfinite(losses[NAME]) and losses[NAME] > 0
    # The masker's loss reaches the shared encoder through the listener.
    for old, module in zip(before, modules):
        assert any(not b.equal(a) for b, a in zip(old, torch_params(module)))
    pipe.cfg["keep_candidates"] = True  # one update decides little: write every pair to see its rationale
    docs = list(nlp.pipe(eg.predicted.copy() for eg in examples))
    for doc in docs:
        rels = get_relations(doc)
        assert rels and all(r.rationale and all(0 <= s.start < s.end <= len(doc) for s in r.rationale) for r in rels)


# --- bounded work per document --------------------------------------------------

CAPPED = {"@misc": "spacy-relext.entity_pairs.v2", "max_pairs_per_sentence": 40}


def many_entities(vocab, n, *, gap=1, sentences=True):
    """One sentence (or, without `sentences`, one unsplit text) with `n` PER mentions,
    `gap` filler tokens between two of them."""
    words, ents = [], []
    for i in range(n):
        ents.append((len(words), len(words) + 1, "PER"))
        words += [f"E{i}"] + ["and"] * gap
    words.append(".")
    doc = make_doc(vocab, words, ents)
    if sentences:
        for token in doc:
            token.is_sent_start = token.i == 0
    return doc


def test_pairs_scored_equal_the_cap_in_prediction_and_training():
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe(NAME, config={"candidates": CAPPED})
    nlp.initialize(lambda: make_examples(nlp))
    doc = many_entities(nlp.vocab, 30)  # 870 ordered pairs
    with pytest.warns(UserWarning, match=r"\[W030\] Doc 'E0 and E1 and .*' has 870 candidate pairs; 830 of them"):
        pairs, logits, masks = pipe.predict([doc])
    assert len(pairs) == logits.shape[0] == 40
    with pytest.warns(UserWarning, match="W030"):
        X, truths = pipe.make_training_input([Example(doc, many_entities(nlp.vocab, 30))])
    assert len(X[1]) == len(truths) == 40  # training sees the same candidates


def test_a_20000_token_text_without_sentences_is_bounded():
    """The default caps: 2,000 pairs of the one "sentence" (the nearest), regions cut
    to 512 tokens; the component runs to the end (with smaller caps here, for time)."""
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe(NAME)
    nlp.initialize(lambda: make_examples(nlp))
    doc = many_entities(nlp.vocab, 400, gap=49, sentences=False)  # 20,001 tokens, 159,600 ordered pairs
    assert len(doc) == 20001
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        regions, pairs = pipe.make_pairs([doc])
    assert warning_codes(record) == ["W005", "W030", "W031"]
    assert len(pairs) == 2000
    assert max(pair.region[1] - pair.region[0] for pair in regions.pairs) == 512
    assert all(abs(head.start - tail.start) <= 3 * 50 for _, head, tail, _ in pairs)  # the nearest
    pipe.candidates = spacy.registry.misc.get("spacy-relext.entity_pairs.v2")(max_pairs_per_doc=20)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        pairs, logits, masks = pipe.predict([doc])
        assert len(nlp(doc)._.relations) <= 20
    assert len(pairs) == 20 and masks.shape == (20, 512)
    assert warning_codes(record) == ["W005", "W030", "W031"]


def warning_codes(record):
    return sorted({str(w.message).split("]")[0][-4:] for w in record})


def test_rationales_are_those_of_before_the_speed_fix(trained):
    """set_annotations builds rationale spans for the written relations only: the same
    relations, scores and rationales as building them for every pair first."""
    from spacy_relext.rationale.solver import mask_segments

    nlp, examples, _ = trained
    pipe = nlp.get_pipe(NAME)
    docs = [eg.predicted.copy() for eg in examples] + [many_entities(nlp.vocab, 12)]
    for keep in (False, True):
        pipe.cfg["keep_candidates"] = keep
        try:
            pairs, logits, masks = pipe.predict(docs)
            pipe.set_annotations(docs, (pairs, logits, masks))
        finally:
            pipe.cfg["keep_candidates"] = False
        probs = pipe.model.ops.softmax(logits)
        expected = [[] for _ in docs]
        for p, (i, head, tail, start) in enumerate(pairs):
            rationale = [(start + a, start + b) for a, b in mask_segments(masks[p].tolist())]
            best = int(probs[p].argmax())
            decided = range(1, pipe.n_classes) if keep else [best] if best > 0 else []
            for c in decided:
                expected[i].append((head.start, tail.start, pipe.labels[c - 1], float(probs[p, c]), rationale))
        got = [[(r.head.start, r.tail.start, r.label, r.score, [(s.start, s.end) for s in r.rationale])
                for r in doc._.relations] for doc in docs]
        assert got == expected and sum(map(len, got)) > 0
