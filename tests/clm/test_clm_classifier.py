import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy  # noqa: E402
import pytest  # noqa: E402
import spacy  # noqa: E402
import torch  # noqa: E402
from spacy.tokens import Doc, Span  # noqa: E402
from spacy.training import Example  # noqa: E402
from spacy.util import load_model_from_config  # noqa: E402
from thinc.api import Config, Model, fix_random_seed  # noqa: E402

from spacy_relext import Relation  # noqa: E402
from spacy_relext.clm.clm_classifier import candidate_label_markers, chunk_objects  # noqa: E402
from spacy_relext.clm.label_scheme import (  # noqa: E402
    DirectionalLabels,
    decode_pairs,
    drop_overlapping,
    learn_symmetric_labels,
)
from spacy_relext.clm.levitated_marker import (  # noqa: E402
    PackedPairs,
    PairGroup,
    build_levitated_marker_classifier,
    context_window,
    group_focus,
    make_layout,
    marker_attention_mask,
)
from spacy_relext.clm.pytorch_marker_attention import MarkerAttention, pair_features  # noqa: E402

# text, entities (start, end, label), relations (head start, tail start, label)
TRAIN_DATA = [
    (
        "Alice works for Acme in Paris .",
        [(0, 1, "PER"), (3, 4, "ORG"), (5, 6, "LOC")],
        [(0, 3, "Work_For"), (3, 5, "OrgBased_In")],
    ),
    (
        "Bob lives in London and knows Carol .",
        [(0, 1, "PER"), (3, 4, "LOC"), (6, 7, "PER")],
        [(0, 3, "Live_In"), (0, 6, "Knows"), (6, 0, "Knows")],
    ),
    (
        "Paris is home to Dana , who runs Zeta .",
        [(0, 1, "LOC"), (4, 5, "PER"), (8, 9, "ORG")],
        [(4, 0, "Live_In"), (4, 8, "Work_For")],
    ),
]
LABELS = ["Work_For", "OrgBased_In", "Live_In", "Knows"]

# fmt: off
# Rows/columns: t0 t1 | S /S | O1 O2 | /O1 /O2 | C1 C2 (one CLM per object)
MASK_MDOS = numpy.array([
    [1, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    [1, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    [1, 1, 1, 1, 0, 0, 0, 0, 1, 1],
    [1, 1, 1, 1, 0, 0, 0, 0, 1, 1],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 0],
    [1, 1, 1, 1, 1, 1, 1, 1, 0, 1],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 0],
    [1, 1, 1, 1, 1, 1, 1, 1, 0, 1],
    [1, 1, 1, 1, 1, 0, 1, 0, 1, 0],
    [1, 1, 1, 1, 0, 1, 0, 1, 0, 1],
], dtype=bool)
# fmt: on
# Without M-DOS an object's markers no longer see the other object's markers.
MASK_NO_MDOS = MASK_MDOS.copy()
MASK_NO_MDOS[[4, 6], 5] = MASK_NO_MDOS[[4, 6], 7] = False  # O1, /O1 -> O2, /O2
MASK_NO_MDOS[[5, 7], 4] = MASK_NO_MDOS[[5, 7], 6] = False  # O2, /O2 -> O1, /O1

LISTENER_CONFIG = """
[nlp]
lang = "en"
pipeline = ["tok2vec","clm_classifier"]

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

[components.clm_classifier]
factory = "clm_classifier"

[components.clm_classifier.model]
@architectures = "spacy-relext.LevitatedMarkerClassifier.v1"
hidden_width = 32
n_heads = 2

[components.clm_classifier.model.tok2vec]
@architectures = "spacy.Tok2VecListener.v1"
width = 32
upstream = "tok2vec"
"""


def make_doc(nlp, text, ents, *, rels=()):
    doc = nlp.make_doc(text)
    spans = {start: Span(doc, start, end, label=label) for start, end, label in ents}
    doc.ents = list(spans.values())
    doc._.relations = [Relation(head=spans[h], tail=spans[t], label=label) for h, t, label in rels]
    return doc


def make_examples(nlp, data=TRAIN_DATA):
    """Gold entities on both sides, as when training with gold mentions."""
    return [Example(make_doc(nlp, text, ents), make_doc(nlp, text, ents, rels=rels)) for text, ents, rels in data]


def relation_keys(doc):
    return sorted(rel.key for rel in doc._.relations)


def unseen_docs(nlp):
    return [make_doc(nlp, text, ents) for text, ents, _ in TRAIN_DATA]


@pytest.fixture(scope="module")
def trained():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    # CLMs from the 11th update: both training phases run
    nlp.add_pipe("clm_classifier", config={"clm_warmup_steps": 10})
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    losses = {}
    for _ in range(40):
        losses = {}
        nlp.update(examples, sgd=optimizer, losses=losses)
    return nlp, examples, losses


# --- attention mask and layout ---------------------------------------------


@pytest.mark.parametrize("mutual,expected", [(True, MASK_MDOS), (False, MASK_NO_MDOS)])
def test_mask_cells(mutual, expected):
    mask = marker_attention_mask(2, 2, text_width=2, object_width=2, clm_width=1, mutual=mutual)
    assert mask.shape == expected.shape
    assert numpy.array_equal(mask, expected), numpy.argwhere(mask != expected)


def test_mask_without_clms_is_the_leading_block():
    mask = marker_attention_mask(2, 2, text_width=2, object_width=2, clm_width=0)
    assert numpy.array_equal(mask, MASK_MDOS[:8, :8])


def test_mask_solid_objects():
    mask = marker_attention_mask(2, 2, text_width=2, object_width=2, clm_width=1, solid_objects=True)
    expected = MASK_MDOS.copy()
    expected[2:4, 4:8] = True  # the subject markers also see the (solid) object markers
    assert numpy.array_equal(mask, expected)


def test_pair_packing_trains():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    clm = nlp.add_pipe("clm_classifier", config={"packing": "pair", "clm_warmup_steps": 5})
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    packed, pairs = clm.pack([eg.predicted for eg in examples])
    assert packed.solid_objects and len(packed.groups) == len(pairs) == 18
    losses = [nlp.update(examples, sgd=optimizer)["clm_classifier"] for _ in range(25)]
    assert losses[-1] < losses[0] / 5


def test_mask_padding_rows_see_only_themselves():
    # 2 real text rows of 3, 1 real object of 2, 2 CLMs per object
    mask = marker_attention_mask(2, 1, text_width=3, object_width=2, clm_width=2)
    pad_rows = [2, 6, 8, 11, 12]  # text pad, O2, /O2, CLMs of O2
    for row in pad_rows:
        assert mask[row].nonzero()[0].tolist() == [row]
        others = [r for r in range(mask.shape[0]) if r != row]
        assert not mask[others, row].any()
    # the real object's markers see neither padding nor the other slot
    assert mask[5].nonzero()[0].tolist() == [0, 1, 3, 4, 5, 7, 9, 10]


def test_layout_positions_and_sources():
    nlp = spacy.blank("en")
    doc = nlp("a b c d e f")
    packed = PackedPairs([PairGroup(0, (1, 3), [(4, 5), (0, 1)])], clm_ids=numpy.array([[2, 7], [0, 1]]))
    layout = make_layout([doc], packed, max_length=10, mutual=True)
    assert layout.text_sources.tolist() == [[0, 1, 2, 3, 4, 5]] and layout.text_lengths.tolist() == [6]
    assert layout.windows.tolist() == [0]
    # S /S | O1 O2 | /O1 /O2 | CLMs (2 per object)
    assert layout.sources[0].tolist() == [1, 2, 4, 0, 4, 0, -1, -1, -1, -1]
    assert layout.positions[0].tolist() == [1, 2, 4, 0, 4, 0, 10, 11, 10, 11]
    assert layout.clm_ids[0].tolist() == [0] * 6 + [3, 8, 1, 2]
    assert layout.pair_rows.tolist() == [[0, 0, 1, 2, 4], [0, 0, 1, 3, 5]]
    assert numpy.array_equal(
        layout.mask[0], marker_attention_mask(0, 2, text_width=0, object_width=2, clm_width=2, mutual=True)
    )


def test_layout_shares_one_text_sequence_per_window():
    """Groups of one window (two subjects of a sentence, or one subject split into two
    groups) read one text sequence; another sentence gets its own."""
    words = "a b c . d e f .".split()
    doc = Doc(spacy.blank("en").vocab, words=words, sent_starts=[i in (0, 4) for i in range(8)])
    groups = [PairGroup(0, (0, 1), [(2, 3)]), PairGroup(0, (2, 3), [(0, 1)]), PairGroup(0, (4, 5), [(6, 7)]),
              PairGroup(0, (0, 1), [(1, 2)])]
    layout = make_layout([doc], PackedPairs(groups), max_length=4, mutual=True)
    assert layout.windows.tolist() == [0, 0, 1, 0]
    assert layout.text_sources.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert layout.row_types.shape == (4, 4)  # S /S O /O: no text rows per group


def test_context_window_widens_by_sentences():
    words = "a b . c d . e f g h i j .".split()
    sent_starts = [True, False, False, True, False, False, True] + [False] * 6
    doc = Doc(spacy.blank("en").vocab, words=words, sent_starts=sent_starts)
    assert context_window(doc, (3, 4), 6) == (0, 6)
    assert context_window(doc, (3, 4), 13) == (0, 13)
    assert context_window(doc, (3, 4), 3) == (3, 6)
    assert context_window(doc, (8, 9), 4) == (6, 10)  # sentence longer than the window


def _hidden(module, vectors, doc, packed, mutual=True):
    """Marker states (S /S O_1.. /O_1..) of one packed sequence."""
    layout = make_layout([doc], packed, max_length=16, mutual=mutual)
    text_X, X = (numpy.where(s[..., None] >= 0, vectors[s], 0.0).astype("float32")
                 for s in (layout.text_sources, layout.sources))
    ints = (layout.text_lengths, layout.windows, layout.row_types, layout.positions, layout.clm_ids, layout.mask)
    with torch.no_grad():
        return module.hidden(*(torch.from_numpy(a) for a in (text_X, X, *ints)), layout.sources.shape[1]).numpy()


def test_text_states_unchanged_by_markers_before_the_speed_fix():
    """The reason text states are computed once per window: in the full packed sequence
    (the implementation before, which ran every row per group) they do not depend on the
    subject, the objects or the CLMs."""
    torch.manual_seed(0)
    module = MarkerAttention(8, 16, 5, depth=2, n_heads=2, n_positions=32, n_clm_tokens=10, dropout=0.0).eval()
    doc = spacy.blank("en")("a b c d e f")
    vectors = numpy.random.default_rng(0).normal(size=(6, 8)).astype("float32")
    one = PackedPairs([PairGroup(0, (0, 1), [(2, 3)])])
    many = PackedPairs([PairGroup(0, (1, 2), [(2, 3), (4, 6), (0, 1)])], clm_ids=numpy.array([[1, 9], [2, 3], [4, 0]]))
    text_one = hidden_before(module, vectors, [doc], one, max_length=16, mutual=True)[0, :6]
    text_many = hidden_before(module, vectors, [doc], many, max_length=16, mutual=True)[0, :6]
    numpy.testing.assert_allclose(text_one, text_many, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mutual", [True, False])
def test_mdos_lets_objects_see_each_other(mutual):
    torch.manual_seed(0)
    module = MarkerAttention(8, 16, 5, depth=1, n_heads=2, n_positions=32, n_clm_tokens=10, dropout=0.0).eval()
    doc = spacy.blank("en")("a b c d e f")
    vectors = numpy.random.default_rng(0).normal(size=(6, 8)).astype("float32")
    alone = _hidden(module, vectors, doc, PackedPairs([PairGroup(0, (0, 1), [(2, 3), (3, 4)])]), mutual)
    changed = _hidden(module, vectors, doc, PackedPairs([PairGroup(0, (0, 1), [(2, 3), (4, 6)])]), mutual)
    # rows: S, /S, O1, O2, /O1, /O2: O1 (row 2) differs only through O2
    same = numpy.allclose(alone[0, 2], changed[0, 2], atol=1e-6)
    assert same != mutual
    numpy.testing.assert_allclose(alone[0, :2], changed[0, :2], atol=1e-6)  # subject markers


# --- label directions and decoding ------------------------------------------


def test_directional_labels():
    scheme = DirectionalLabels(["A", "S", "B"], ["S"])
    assert scheme.n_classes == 1 + 1 + 2 * 2
    assert scheme.encode(None) == 0
    assert scheme.encode("S") == scheme.encode("S", reverse=True) == 1
    assert (scheme.encode("A"), scheme.encode("B")) == (2, 3)
    assert (scheme.encode("A", reverse=True), scheme.encode("B", reverse=True)) == (4, 5)
    assert scheme.reverse.tolist() == [0, 1, 4, 5, 2, 3]
    assert [scheme.decode(c) for c in range(6)] == [
        (None, False), ("S", False), ("A", False), ("B", False), ("A", True), ("B", True)
    ]
    assert scheme.is_symmetric(1) and not scheme.is_symmetric(0) and not scheme.is_symmetric(2)
    forward, backward = numpy.arange(6.0), numpy.arange(6.0) * 10
    assert scheme.combine(forward, backward).tolist() == [0, 11, 42, 53, 24, 35]
    assert scheme.combine(forward, None) is forward


def test_learn_symmetric_labels():
    triples = [("a", "b", "S"), ("b", "a", "S"), ("a", "c", "A"), ("c", "a", "A"), ("b", "c", "A")]
    assert learn_symmetric_labels(triples) == ["S"]


def _log_probs(rows, n_classes):
    out = numpy.full((len(rows), n_classes), numpy.log(0.01))
    for i, c in enumerate(rows):
        out[i, c] = numpy.log(0.9)
    return out


def test_decode_flips_symmetric_and_drops_overlaps():
    doc = spacy.blank("en")("w x y z v")
    a, b, c, c2 = doc[0:1], doc[1:2], doc[2:4], doc[2:3]
    scheme = DirectionalLabels(["A", "S"], ["S"])  # NIL, S, A, A-reversed
    pairs = [(0, a, b), (0, b, a), (0, a, c), (0, c, a), (0, b, c), (0, a, c2)]
    # (a,b) and (b,a) both say "b -> a" for A; (a,c)/(c,a) say S; (b,c) NIL; (a,c2) A weaker
    log_probs = _log_probs([3, 2, 1, 1, 0, 2], scheme.n_classes)
    log_probs[5] = numpy.log([0.1, 0.1, 0.7, 0.1])
    found = decode_pairs(pairs, log_probs, scheme)
    keys = [(h.start, t.start, label) for _, h, t, label, _ in found]
    assert keys[:3] == [(1, 0, "A"), (0, 2, "S"), (2, 0, "S")]
    assert (0, 2, "A") in keys  # (a, c2) alone: A, no overlap with another A
    assert found[0][4] == pytest.approx(0.9)
    # a second, weaker A between overlapping arguments is dropped
    pairs.append((0, doc[1:3], a))
    log_probs = numpy.vstack([log_probs, numpy.log([[0.1, 0.1, 0.7, 0.1]])])
    keys = [(h.start, h.end, t.start, label) for _, h, t, label, _ in decode_pairs(pairs, log_probs, scheme)]
    assert (1, 2, 0, "A") in keys and (1, 3, 0, "A") not in keys


@pytest.mark.parametrize(
    "token_scheme,expected", [("separate", [[2, 0, 5, 7], [3, 1, 4, 6]]), ("code", [[2, 0, 1, 2], [3, 1, 0, 3]])]
)
def test_candidate_label_markers(token_scheme, expected):
    scheme = DirectionalLabels(["A", "S"], ["S"])  # NIL, S, A, A-rev; reverse = [0, 1, 3, 2]
    logits = numpy.array([[0.5, 0.1, 3.0, 0.0], [0.4, 1.0, -1.0, 2.0]])
    ids = candidate_label_markers(logits, scheme, n=2, m=2, token_scheme=token_scheme)
    assert ids.tolist() == expected


def test_candidate_label_markers_clip_to_classes():
    scheme = DirectionalLabels(["A"], ["A"])  # NIL, A
    ids = candidate_label_markers(numpy.array([[0.0, 1.0]]), scheme, n=2, m=4, token_scheme="separate")
    assert ids.tolist() == [[1, 0]]


# --- the component ---------------------------------------------------------


def test_add_pipe_alone_and_labels():
    nlp = spacy.blank("en")
    clm = nlp.add_pipe("clm_classifier")
    assert clm.add_label("Work_For") == 1 and clm.add_label("Work_For") == 0
    nlp.initialize()
    assert clm.labels == ("Work_For",)
    with pytest.raises(ValueError, match="E401"):
        clm.add_label("Other")


def test_no_label():
    nlp = spacy.blank("en")
    nlp.add_pipe("clm_classifier")
    with pytest.raises(ValueError, match="E400"):
        nlp.initialize()


def test_explicit_labels_and_symmetric_config():
    nlp = spacy.blank("en")
    clm = nlp.add_pipe("clm_classifier", config={"symmetric_labels": ["Knows"]})
    clm.initialize(lambda: make_examples(nlp), nlp=nlp, labels=["Knows", "Live_In"])
    assert clm.labels == ("Knows", "Live_In")
    assert clm.label_scheme.n_classes == 1 + 1 + 2


def test_bad_settings():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="E402"):
        nlp.add_pipe("clm_classifier", config={"clm_token_scheme": "other"})
    with pytest.raises(ValueError, match="E403"):
        nlp.add_pipe("clm_classifier", name="x", config={"model": {"hidden_width": 10, "n_heads": 4}})


def test_learned_symmetric_labels(trained):
    nlp, _, _ = trained
    assert nlp.get_pipe("clm_classifier").cfg["symmetric_labels"] == ["Knows"]


def test_clm_warmup_schedule():
    nlp = spacy.blank("en")
    clm = nlp.add_pipe("clm_classifier", config={"clm_warmup_steps": 1, "clm_top_n": 1, "clm_bottom_m": 2})
    examples = make_examples(nlp)
    nlp.initialize(lambda: examples)
    first, _ = clm.make_training_input(examples)
    second, truths = clm.make_training_input(examples)
    assert first[1].clm_ids is None
    assert second[1].clm_ids.shape == (second[1].n_pairs, 3)
    assert len(truths) == second[1].n_pairs == 18
    # inference packs no CLMs
    assert clm.pack(unseen_docs(nlp))[0].clm_ids is None


def test_stage_one_records_no_gradient_and_gives_the_clms_of_before():
    """SURE's stage 1 runs in train mode (dropout on) under no_grad (issue 24): one pass,
    no autograd graph, and the same CLMs as ranking with the graph recorded (as before),
    given the same dropout masks."""
    nlp = spacy.blank("en")
    clm = nlp.add_pipe("clm_classifier", config={"clm_warmup_steps": 0})
    examples = make_examples(nlp)
    nlp.initialize(lambda: examples)
    module = clm.model.get_ref("attention").shims[0]._model
    seen = []
    hook = module.register_forward_hook(lambda layer, inputs, output: seen.append((torch.is_grad_enabled(),
                                                                                     layer.training)))
    fix_random_seed(0)
    (docs, packed), _ = clm.make_training_input(examples)
    hook.remove()
    assert seen == [(False, True)]
    fix_random_seed(0)
    logits, _ = clm.model((docs, PackedPairs(packed.groups)), is_train=True)
    want = candidate_label_markers(clm.model.ops.to_numpy(logits), clm.label_scheme, n=2, m=4,
                                   token_scheme="separate")
    assert numpy.array_equal(packed.clm_ids, want)


def test_clm_random_order_shuffles_the_same_markers():
    nlp = spacy.blank("en")
    clm = nlp.add_pipe("clm_classifier", config={"clm_order": "random", "clm_top_n": 2, "clm_bottom_m": 4,
                                                   "clm_warmup_steps": 0})
    examples = make_examples(nlp)
    nlp.initialize(lambda: examples)
    clm.n_updates = 3
    fix_random_seed(0)
    shuffled = clm.make_training_input(examples)[0][1].clm_ids
    clm.n_updates, clm.clm_order = 3, "score"
    fix_random_seed(0)
    ranked = clm.make_training_input(examples)[0][1].clm_ids
    assert shuffled.shape == ranked.shape == (18, 6)
    assert (numpy.sort(shuffled, axis=1) == numpy.sort(ranked, axis=1)).all()
    assert (shuffled != ranked).any()
    with pytest.raises(ValueError, match="E402.*clm_order"):
        nlp.add_pipe("clm_classifier", name="bad", config={"clm_order": "alphabetical"})


def test_update_count_is_saved(trained):
    """Resuming from a saved pipeline continues the CLM warm-up schedule."""
    nlp, _, _ = trained
    clm = nlp.get_pipe("clm_classifier")
    assert clm.n_updates == 40
    loaded = spacy.blank("en").add_pipe("clm_classifier")
    loaded.from_bytes(clm.to_bytes())
    assert loaded.n_updates == 40


def test_overfitting(trained):
    nlp, examples, losses = trained
    assert losses["clm_classifier"] < 0.05
    for eg, doc in zip(examples, nlp.pipe(unseen_docs(nlp))):
        assert relation_keys(doc) == relation_keys(eg.reference)
        assert all(rel.source == "clm_classifier" for rel in doc._.relations)


def test_evaluate(trained):
    nlp, examples, _ = trained
    scores = nlp.evaluate(examples)
    assert scores["rel_p"] == scores["rel_r"] == scores["rel_f"] == 1.0


def test_keeps_other_components_relations(trained):
    nlp, _, _ = trained
    doc = unseen_docs(nlp)[0]
    other = Relation(head=doc[0:1], tail=doc[5:6], label="Mine", source="user")
    doc._.relations = [other]
    doc = nlp(doc)
    doc = nlp(doc)  # a second run replaces, not duplicates, its own relations
    assert [rel.label for rel in doc._.relations].count("Work_For") == 1
    assert doc._.relations[0].label == "Mine"


def test_serialization(trained, tmp_path):
    nlp, _, _ = trained
    expected = [[(rel.key, round(rel.score, 5)) for rel in doc._.relations] for doc in nlp.pipe(unseen_docs(nlp))]
    nlp.to_disk(tmp_path)
    from_disk = spacy.load(tmp_path)
    from_bytes = spacy.blank("en")
    from_bytes.add_pipe("clm_classifier")
    from_bytes.from_bytes(nlp.to_bytes())
    for loaded in (from_disk, from_bytes):
        got = [[(rel.key, round(rel.score, 5)) for rel in doc._.relations] for doc in loaded.pipe(unseen_docs(loaded))]
        assert got == expected


def test_multiprocessing(trained):
    nlp, examples, _ = trained
    docs = list(nlp.pipe(unseen_docs(nlp), n_process=2, batch_size=1))
    assert [relation_keys(doc) for doc in docs] == [relation_keys(eg.reference) for eg in examples]


def test_edge_docs(trained):
    nlp, _, _ = trained
    long_text = " ".join(["Alice works for Acme in Paris ."] * 150)
    long_ents = [(7 * i + s, 7 * i + e, label) for i in range(150) for s, e, label in TRAIN_DATA[0][1]]
    docs = [
        nlp.make_doc(""),
        make_doc(nlp, "No entities here .", []),
        make_doc(nlp, "Only Alice here .", [(1, 2, "PER")]),
        make_doc(nlp, long_text, long_ents),
    ]
    for i, token in enumerate(docs[3]):
        token.is_sent_start = i % 7 == 0
    docs = list(nlp.pipe(docs, batch_size=4))
    assert [len(doc._.relations) for doc in docs[:3]] == [0, 0, 0]
    assert len(docs[3]) == 1050 and len(docs[3]._.relations) > 0


def test_update_without_candidates():
    nlp = spacy.blank("en")
    clm = nlp.add_pipe("clm_classifier")
    clm.add_label("Work_For")
    optimizer = nlp.initialize()
    data = [("No entities here .", [], []), ("Only Alice here .", [(1, 2, "PER")], [])]
    losses = nlp.update(make_examples(nlp, data), sgd=optimizer)
    assert losses["clm_classifier"] == 0.0
    assert clm.update([], sgd=optimizer)["clm_classifier"] == 0.0


def test_listener_and_replace_listeners(tmp_path):
    fix_random_seed(0)
    nlp = load_model_from_config(Config().from_str(LISTENER_CONFIG), auto_fill=True, validate=True)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(5):
        nlp.update(examples, sgd=optimizer)
    expected = [[(r.key, round(r.score, 5)) for r in doc._.relations] for doc in nlp.pipe(unseen_docs(nlp))]
    nlp.replace_listeners("tok2vec", "clm_classifier", ["model.tok2vec"])
    assert nlp.get_pipe("clm_classifier").model.get_ref("tok2vec").name != "tok2vec-listener"
    got = [[(r.key, round(r.score, 5)) for r in doc._.relations] for doc in nlp.pipe(unseen_docs(nlp))]
    assert got == expected
    nlp.to_disk(tmp_path)
    reloaded = spacy.load(tmp_path)
    got = [[(r.key, round(r.score, 5)) for r in doc._.relations] for doc in reloaded.pipe(unseen_docs(reloaded))]
    assert got == expected


def test_context_window_holds_every_argument_of_a_group():
    """A 300-token sentence: the window of a group is centred on its arguments, not on
    the subject alone, so an object 100 tokens away is read in context; arguments in
    two sentences get both sentences."""
    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words=["w"] * 300)
    group = PairGroup(0, (10, 11), [(110, 112)])
    assert group_focus(group, 128) == (10, 112)
    start, end = context_window(doc, group_focus(group, 128), 128)
    assert end - start == 128 and start <= 10 and 112 <= end
    layout = make_layout([doc], PackedPairs([group]), max_length=128, mutual=True)
    assert layout.text_sources[0].tolist() == list(range(start, end))  # the text rows
    assert layout.positions[0, layout.pair_rows[0, 3]] == 110 - start  # the object marker is not clipped
    far = PairGroup(0, (10, 11), [(200, 201)])
    assert group_focus(far, 128) == (10, 11)  # too far for one window: centred on the subject
    two = Doc(nlp.vocab, words=["w"] * 20, sent_starts=[i in (0, 10) for i in range(20)])
    assert context_window(two, (2, 15), 20) == (0, 20)
    assert context_window(two, (2, 15), 16) == (0, 16)  # both sentences do not fit: centred on the focus


def test_far_pairs_get_their_own_group_and_a_warning(trained):
    nlp, _, _ = trained
    words = ["Alice", "works", "for", "Acme"] + ["and"] * 60 + ["Paris"] + ["and"] * 100 + ["Berlin", "."]
    doc = Doc(nlp.vocab, words=words)
    doc.ents = [Span(doc, 0, 1, label="PER"), Span(doc, 3, 4, label="ORG"), Span(doc, 64, 65, label="LOC"),
                Span(doc, 165, 166, label="LOC")]
    assert [[(t.start, t.end) for t in c] for c in chunk_objects((0, 1), list(doc.ents[1:]), 16, 128)] == [
        [(3, 4), (64, 65)], [(165, 166)]]
    with pytest.warns(UserWarning, match=r"\[W004\] 4 candidate pair\(s\) of 'clm_classifier' have arguments more "
                                         r"than max_length=128 tokens apart, e.g. \(Alice, Berlin\)"):
        packed, pairs = nlp.get_pipe("clm_classifier").pack([doc])
    assert len(pairs) == 12 and all(len(g.objects) <= 2 for g in packed.groups)


# --- bounded work per document --------------------------------------------------


def many_entities(nlp, n):
    """One sentence, "E0 and E1 and ... .", every name a PER mention."""
    words = " and ".join(f"E{i}" for i in range(n)).split() + ["."]
    doc = Doc(nlp.vocab, words=words, sent_starts=[i == 0 for i in range(len(words))])
    doc.ents = [Span(doc, 2 * i, 2 * i + 1, label="PER") for i in range(n)]
    return doc


def test_pairs_scored_equal_the_cap_in_prediction_and_training():
    nlp = spacy.blank("en")
    clm = nlp.add_pipe("clm_classifier", config={"candidates": {"@misc": "spacy-relext.entity_pairs.v2",
                                                                "max_pairs_per_sentence": 40}})
    nlp.initialize(lambda: make_examples(nlp))
    doc = many_entities(nlp, 30)  # 870 ordered pairs
    with pytest.warns(UserWarning, match=r"\[W030\] Doc 'E0 and E1 and E2 .*' has 870 candidate pairs; 830 of them"):
        pairs, scores = clm.predict([doc])
    assert len(pairs) == scores.shape[0] == 40
    assert max(abs(head.start - tail.start) for _, head, tail in pairs) <= 2 * 2  # the nearest pairs
    with pytest.warns(UserWarning, match="W030"):
        X, truths = clm.make_training_input([Example(doc, many_entities(nlp, 30))])
    assert X[1].n_pairs == len(truths) == 40  # training sees the same candidates


def drop_overlapping_before(found):
    """drop_overlapping as it was before its speed fix: every kept relation compared."""

    def overlap(a, b):
        return a.start < b.end and b.start < a.end

    kept = []
    for rel in sorted(found, key=lambda rel: -rel[4]):
        if not any(k[0] == rel[0] and k[3] == rel[3] and overlap(k[1], rel[1]) and overlap(k[2], rel[2]) for k in kept):
            kept.append(rel)
    return kept


@pytest.mark.parametrize("seed", range(3))
def test_decoding_keeps_the_relations_it_kept_before_its_speed_fix(seed):
    """Random relations with overlapping and nested arguments, in two Docs and two
    labels, some with equal scores: the same ones kept, in the same order."""
    rng = numpy.random.default_rng(seed)
    doc = spacy.blank("en")(" ".join(["w"] * 30))

    def span():
        start = int(rng.integers(0, 28))
        return doc[start : start + int(rng.integers(1, 4))]

    found = [(int(rng.integers(0, 2)), span(), span(), str(rng.choice(["A", "B"])), float(rng.integers(0, 50)) / 50)
             for _ in range(300)]

    def view(relations):
        return [(i, h.start, h.end, t.start, t.end, label, score) for i, h, t, label, score in relations]

    kept = view(drop_overlapping(found))
    assert 20 < len(kept) < 300 and kept == view(drop_overlapping_before(found))


def context_window_before(doc, focus, max_length):
    """context_window as it was before it took the sentence starts from its caller."""
    from spacy_relext.entities import sentence_index, sentence_starts

    starts = sentence_starts(doc)
    bounds = list(zip(starts, starts[1:] + [len(doc)]))
    first = sentence_index(starts, focus[0])
    last = sentence_index(starts, max(focus[0], focus[1] - 1))
    start, end = bounds[first][0], bounds[last][1]
    if end - start > max_length:
        centre = (focus[0] + focus[1]) // 2
        start = max(0, min(centre - max_length // 2, len(doc) - max_length, focus[0]))
        start = max(start, min(focus[1] - max_length, focus[0]))
        return start, min(len(doc), start + max_length)
    grew = True
    while grew:
        grew = False
        for candidate in (first - 1, last + 1):
            if 0 <= candidate < len(bounds):
                new_start, new_end = min(start, bounds[candidate][0]), max(end, bounds[candidate][1])
                if new_end - new_start <= max_length:
                    start, end = new_start, new_end
                    first, last = min(first, candidate), max(last, candidate)
                    grew = True
    return start, end


def test_context_windows_are_those_of_before_the_speed_fix():
    from spacy_relext.entities import sentence_starts

    rng = numpy.random.default_rng(0)
    starts = [i == 0 or rng.random() < 0.1 for i in range(120)]
    doc = Doc(spacy.blank("en").vocab, words=["w"] * 120, sent_starts=starts)
    cached = sentence_starts(doc)
    for focus in [(a, b) for a in range(0, 120, 7) for b in range(a + 1, min(120, a + 60), 5)]:
        for max_length in (4, 16, 50, 200):
            want = context_window_before(doc, focus, max_length)
            assert context_window(doc, focus, max_length) == want
            assert context_window(doc, focus, max_length, cached) == want


# --- the listener path before its speed fix (issue 24), kept as the reference ------------
# Every group ran all its rows (text included) through the attention blocks under one
# (T, T) mask built per group with np.ix_; the new path must give the same scores and
# gradients.


def marker_attention_mask_before(n_text, n_objects, *, text_width, object_width, clm_width=0, mutual=True,
                                 solid_objects=False):
    subject, starts = text_width, text_width + 2
    ends, clms = starts + object_width, starts + 2 * object_width
    n_rows = clms + object_width * clm_width
    mask = numpy.eye(n_rows, dtype=bool)
    text = slice(0, n_text)
    mask[:n_text, text] = True
    subj = slice(subject, subject + 2)
    real_clms = numpy.arange(clms, clms + n_objects * clm_width)
    mask[subj, text] = True
    mask[subj, subj] = True
    mask[subject:subject + 2, real_clms] = True
    objects = numpy.concatenate([numpy.arange(starts, starts + n_objects), numpy.arange(ends, ends + n_objects)])
    if mutual:
        mask[numpy.ix_(objects, objects)] = True
    for x in range(n_objects):
        markers = [starts + x, ends + x]
        own = numpy.arange(clms + x * clm_width, clms + (x + 1) * clm_width)
        mask[numpy.ix_(markers, markers)] = True
        mask[numpy.ix_(markers, own)] = True
        mask[numpy.ix_(own, own)] = True
        mask[numpy.ix_(own, markers)] = True
    seers = numpy.concatenate([objects, real_clms])
    mask[seers, text] = True
    mask[seers, subj] = True
    if solid_objects:
        mask[subject : subject + 2, objects] = True
    return mask


def layout_before(docs, packed, *, max_length, mutual):
    """sources, row_types, positions, clm_ids, mask (G, T, T), pair_rows of the full rows."""
    from spacy_relext.clm.levitated_marker import N_CLM_POSITIONS
    from spacy_relext.clm.pytorch_marker_attention import CLM, OBJ_END, OBJ_START, SUBJ_END, SUBJ_START, TEXT

    doc_starts = numpy.cumsum([0] + [len(doc) for doc in docs])
    windows = [context_window(docs[g.doc_index], group_focus(g, max_length), max_length) for g in packed.groups]
    text_width = max(end - start for start, end in windows)
    object_width = max(len(g.objects) for g in packed.groups)
    clm_width = 0 if packed.clm_ids is None else packed.clm_ids.shape[1]
    subject, starts = text_width, text_width + 2
    ends, clms = starts + object_width, starts + 2 * object_width
    n_rows = clms + object_width * clm_width
    shape = (len(packed.groups), n_rows)
    sources = numpy.full(shape, -1, dtype="int64")
    row_types, positions, clm_ids = (numpy.zeros(shape, dtype="int64") for _ in range(3))
    mask = numpy.zeros((*shape, n_rows), dtype=bool)
    pair_rows, pair = [], 0
    for g, (group, (w_start, w_end)) in enumerate(zip(packed.groups, windows)):
        base, n_text = doc_starts[group.doc_index], w_end - w_start
        sources[g, :n_text] = numpy.arange(base + w_start, base + w_end)
        row_types[g, :n_text] = TEXT
        positions[g, :n_text] = numpy.arange(n_text)

        def place(row, token, row_type):
            sources[g, row] = base + token
            row_types[g, row] = row_type
            positions[g, row] = min(max(token - w_start, 0), max_length - 1)

        place(subject, group.subject[0], SUBJ_START)
        place(subject + 1, group.subject[1] - 1, SUBJ_END)
        for x, (o_start, o_end) in enumerate(group.objects):
            place(starts + x, o_start, OBJ_START)
            place(ends + x, o_end - 1, OBJ_END)
            pair_rows.append((g, subject, subject + 1, starts + x, ends + x))
            if clm_width:
                rows = slice(clms + x * clm_width, clms + (x + 1) * clm_width)
                row_types[g, rows] = CLM
                positions[g, rows] = max_length + numpy.minimum(numpy.arange(clm_width), N_CLM_POSITIONS - 1)
                clm_ids[g, rows] = numpy.asarray(packed.clm_ids[pair]) + 1
            pair += 1
        mask[g] = marker_attention_mask_before(n_text, len(group.objects), text_width=text_width,
                                               object_width=object_width, clm_width=clm_width, mutual=mutual,
                                               solid_objects=packed.solid_objects)
    return sources, row_types, positions, clm_ids, mask, numpy.asarray(pair_rows)


def _block_before(block, h, mask):
    n_groups, n_rows, width = h.shape
    q, k, v = block.qkv(block.norm1(h)).chunk(3, dim=-1)

    def heads(x):
        return x.view(n_groups, n_rows, block.n_heads, width // block.n_heads).transpose(1, 2)

    attended = torch.nn.functional.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=mask[:, None])
    h = h + block.dropout(block.out(attended.transpose(1, 2).reshape(n_groups, n_rows, width)))
    return h + block.dropout(block.ff(block.norm2(h)))


def _rows_before(module, flat, docs, packed, max_length, mutual):
    sources, *ints, pair_rows = (torch.from_numpy(a) for a in layout_before(docs, packed, max_length=max_length,
                                                                              mutual=mutual))
    X = torch.where(sources[..., None] >= 0, flat[sources.clamp(min=0)], 0.0)
    row_types, positions, clm_ids, mask = ints
    h = module.project(X) + module.row_types(row_types) + module.positions(positions) + module.clm_tokens(clm_ids)
    for block in module.blocks:
        h = _block_before(block, h, mask)
    return module.norm(h), pair_rows


def hidden_before(module, vectors, docs, packed, *, max_length, mutual):
    with torch.no_grad():
        return _rows_before(module, torch.from_numpy(vectors), docs, packed, max_length, mutual)[0].numpy()


def scores_before(module, flat, docs, packed, *, max_length, mutual):
    """Logits of the implementation before, differentiable in `flat` and the weights."""
    h, pair_rows = _rows_before(module, flat, docs, packed, max_length, mutual)
    return module.output(pair_features(module.dropout(h), pair_rows))


@pytest.mark.parametrize("seed", range(4))
def test_mask_is_the_one_of_before_the_speed_fix(seed):
    rng = numpy.random.default_rng(seed)
    text_width, object_width, clm_width = int(rng.integers(1, 6)), int(rng.integers(1, 5)), int(rng.integers(0, 4))
    n_text = rng.integers(1, text_width + 1, size=7)
    n_objects = rng.integers(1, object_width + 1, size=7)
    for mutual, solid in [(True, False), (False, False), (True, True)]:
        options = dict(text_width=text_width, object_width=object_width, clm_width=clm_width, mutual=mutual,
                       solid_objects=solid)
        masks = marker_attention_mask(n_text, n_objects, **options)
        for g in range(7):
            want = marker_attention_mask_before(int(n_text[g]), int(n_objects[g]), **options)
            assert numpy.array_equal(masks[g], want), (g, mutual, solid, numpy.argwhere(masks[g] != want))


def recording_tok2vec(vectors):
    """A tok2vec stand-in giving fixed vectors (one array per Doc) and keeping the
    gradient it receives."""

    def forward(model, docs, is_train):
        def backprop(d_tokvecs):
            model.attrs["d_tokvecs"] = d_tokvecs
            return []

        return [model.ops.asarray2f(v) for v in vectors], backprop

    return Model("recording_tok2vec", forward, dims={"nO": vectors[0].shape[1]}, attrs={})


def random_packed(rng, docs, n_groups, max_objects, n_classes, *, clms, solid=False):
    """Random groups (subjects, objects, windows), several per Doc and per subject."""
    groups = []
    for _ in range(n_groups):
        i = int(rng.integers(len(docs)))

        def span():
            start = int(rng.integers(len(docs[i]) - 2))
            return (start, start + int(rng.integers(1, 3)))

        n_objects = 1 if solid else int(rng.integers(1, max_objects + 1))
        groups.append(PairGroup(i, span(), [span() for _ in range(n_objects)]))
    n_pairs = sum(len(g.objects) for g in groups)
    clm_ids = rng.integers(0, 2 * n_classes, size=(n_pairs, 3)) if clms else None
    return PackedPairs(groups, clm_ids=clm_ids, solid_objects=solid)


def random_docs(rng, vocab, n_docs):
    docs = []
    for _ in range(n_docs):
        n = int(rng.integers(6, 40))
        docs.append(Doc(vocab, words=["w"] * n, sent_starts=[i == 0 or bool(rng.random() < 0.15) for i in range(n)]))
    return docs


@pytest.mark.parametrize(
    "depth,mutual,clms,solid,n_groups",
    [(1, True, False, False, 9), (2, True, True, False, 9), (2, False, True, False, 9), (1, True, True, True, 9),
     (2, True, True, False, 70)],  # 70: more than one chunk of GROUPS_PER_CALL
)
def test_scores_and_gradients_are_those_of_before_the_speed_fix(depth, mutual, clms, solid, n_groups):
    rng = numpy.random.default_rng(depth * 10 + n_groups)
    fix_random_seed(depth)
    docs = random_docs(rng, spacy.blank("en").vocab, 5)
    vectors = [rng.normal(size=(len(doc), 12)).astype("float32") for doc in docs]
    tok2vec = recording_tok2vec(vectors)
    model = build_levitated_marker_classifier(tok2vec, hidden_width=16, depth=depth, n_heads=2, dropout=0.0,
                                              max_length=12, mutual_object_attention=mutual, nO=5)
    model.initialize(X=(docs, PackedPairs([])))
    module = model.get_ref("attention").shims[0]._model
    packed = random_packed(rng, docs, n_groups, 4, 5, clms=clms, solid=solid)
    assert len({(g.doc_index, *context_window(docs[g.doc_index], group_focus(g, 12), 12)) for g in packed.groups}) > 2
    scores, backprop = model.begin_update((docs, packed))
    d_scores = rng.normal(size=scores.shape).astype("float32")
    module.zero_grad()
    backprop(d_scores)
    d_tokvecs = numpy.concatenate(tok2vec.attrs["d_tokvecs"])
    grads = {name: p.grad.clone() for name, p in module.named_parameters() if p.grad is not None}

    flat = torch.from_numpy(numpy.concatenate(vectors)).requires_grad_()
    module.zero_grad()
    want = scores_before(module, flat, docs, packed, max_length=12, mutual=mutual)
    want.backward(torch.from_numpy(d_scores))
    numpy.testing.assert_allclose(scores, want.detach().numpy(), rtol=1e-5, atol=1e-5)
    numpy.testing.assert_allclose(d_tokvecs, flat.grad.numpy(), rtol=1e-5, atol=1e-5)
    want_grads = {name: p.grad for name, p in module.named_parameters() if p.grad is not None}
    assert set(grads) == set(want_grads)
    for name, grad in grads.items():
        numpy.testing.assert_allclose(grad.numpy(), want_grads[name].numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_trained_model_scores_are_those_of_before_the_speed_fix(trained):
    """The component's own trained model, on its Docs and on stage-2 input with CLMs."""
    nlp, examples, _ = trained
    clm = nlp.get_pipe("clm_classifier")
    docs = unseen_docs(nlp)
    packed, _ = clm.pack(docs)
    n_classes = clm.label_scheme.n_classes
    packed.clm_ids = numpy.random.default_rng(0).integers(0, 2 * n_classes, size=(packed.n_pairs, 6))
    flat = torch.from_numpy(numpy.concatenate(clm.model.get_ref("tok2vec").predict(docs)))
    module = clm.model.get_ref("attention").shims[0]._model
    for clm_ids in (None, packed.clm_ids):
        inputs = PackedPairs(packed.groups, clm_ids=clm_ids)
        module.eval()  # the shim's predict leaves the module in train mode
        with torch.no_grad():
            want = scores_before(module, flat, docs, inputs, max_length=clm.model.attrs["max_length"], mutual=True)
        numpy.testing.assert_allclose(clm.model.predict((docs, inputs)), want.numpy(), rtol=1e-5, atol=1e-5)
