"""Scorers: every expected value is computed by hand in the comment above its test."""
import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.pipeline import Pipe
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.vocab import Vocab

from spacy_relext import Relation
from spacy_relext.scorer import (
    collect_train_facts,
    make_doc_relation_scorer,
    make_relation_scorer,
    score_doc_relations,
    score_relations,
    score_semeval,
    score_triples,
)

# "Alice Smith works for Acme Corp in Paris ."
WORDS = ["Alice", "Smith", "works", "for", "Acme", "Corp", "in", "Paris", "."]
ENTS = [(0, 2, "PER"), (4, 6, "ORG"), (7, 8, "LOC")]
PER, ORG, LOC = (0, 2), (4, 6), (7, 8)

SCORERS = [
    (score_relations, "rel_f"),
    (score_semeval, "semeval_macro_f"),
    (score_triples, "triple_exact_f"),
    (score_doc_relations, "docre_f"),
]
REGISTERED = [
    "spacy-relext.relation_scorer.v1",
    "spacy-relext.semeval_scorer.v1",
    "spacy-relext.triple_scorer.v1",
    "spacy-relext.triple_scorer.v2",
    "spacy-relext.doc_relation_scorer.v1",
]


def make_doc(words=WORDS, ents=ENTS, spaces=None):
    """A Doc with entities given as (start, end, label[, id]) token offsets."""
    doc = Doc(Vocab(), words=words, spaces=spaces)
    doc.ents = [Span(doc, e[0], e[1], label=e[2], span_id=e[3] if len(e) > 3 else "") for e in ents]
    return doc


def relate(doc, relations):
    """Set doc._.relations from (head offsets, tail offsets, label[, score]) tuples."""
    doc._.relations = [
        Relation(head=doc[h[0] : h[1]], tail=doc[t[0] : t[1]], label=label, score=rest[0] if rest else 1.0)
        for h, t, label, *rest in relations
    ]
    return doc


def make_example(gold, pred, words=WORDS, ents=ENTS, pred_ents=None):
    predicted = relate(make_doc(words, ents if pred_ents is None else pred_ents), pred)
    return Example(predicted, relate(make_doc(words, ents), gold))


# ---------------------------------------------------------------------------
# score_relations
# ---------------------------------------------------------------------------


def test_relations_micro_macro_and_per_type():
    # 3 gold; 4 distinct predictions (one duplicated): Work_For and Located_In correct,
    # OrgBased_In in the wrong direction, Live_In wrong label.
    # micro: P = 2/4 = 0.5, R = 2/3 = 0.667, F = 2*0.5*0.667/1.167 = 0.571
    # per type F: Work_For 1, Located_In 1, OrgBased_In 0, Live_In 0 -> macro F = 2/4 = 0.5
    gold = [(PER, ORG, "Work_For"), (ORG, LOC, "OrgBased_In"), (PER, LOC, "Located_In")]
    pred = [
        (PER, ORG, "Work_For"),
        (PER, ORG, "Work_For", 0.7),
        (LOC, ORG, "OrgBased_In"),
        (PER, LOC, "Located_In"),
        (PER, LOC, "Live_In"),
    ]
    scores = score_relations([make_example(gold, pred)])
    assert scores["rel_p"] == pytest.approx(0.5)
    assert scores["rel_r"] == pytest.approx(2 / 3)
    assert scores["rel_f"] == pytest.approx(4 / 7)
    assert scores["rel_macro_f"] == pytest.approx(0.5)
    assert scores["rel_per_type"]["Work_For"] == pytest.approx({"p": 1.0, "r": 1.0, "f": 1.0})
    assert scores["rel_per_type"]["OrgBased_In"] == pytest.approx({"p": 0.0, "r": 0.0, "f": 0.0})
    assert set(scores["rel_per_type"]) == {"Work_For", "OrgBased_In", "Located_In", "Live_In"}


def test_gold_never_predicted_is_false_negative():
    # 2 gold, 1 prediction (correct): the gold OrgBased_In was never a candidate.
    # P = 1/1 = 1.0, R = 1/2 = 0.5, F = 0.667
    gold = [(PER, ORG, "Work_For"), (ORG, LOC, "OrgBased_In")]
    scores = score_relations([make_example(gold, [(PER, ORG, "Work_For")])])
    assert (scores["rel_p"], scores["rel_r"], scores["rel_f"]) == pytest.approx((1.0, 0.5, 2 / 3))


@pytest.mark.parametrize("symmetric_labels,expected_f", [((), 0.0), (("Sibling",), 1.0)])
def test_direction_matters_except_for_symmetric_labels(symmetric_labels, expected_f):
    # gold PER -> ORG, predicted ORG -> PER: wrong (F = 0) unless the label is symmetric (F = 1).
    example = make_example([(PER, ORG, "Sibling")], [(ORG, PER, "Sibling")])
    assert score_relations([example], symmetric_labels=symmetric_labels)["rel_f"] == pytest.approx(expected_f)


@pytest.mark.parametrize("pred,expected_p,expected_r", [
    ([(ORG, PER, "Sibling")], 1.0, 0.5),  # reversed: correct
    ([(PER, ORG, "Sibling"), (ORG, PER, "Sibling")], 1.0, 0.5),  # both directions: counted once
    ([(LOC, ORG, "Work_For")], 0.0, 0.0),  # other labels keep their direction
])
def test_symmetric_labels_declared_by_the_reference_doc(pred, expected_p, expected_r):
    """A corpus that declares a label symmetric (the SciERC converter) is scored so
    without the scorer being told (issue 20)."""
    from spacy_relext import set_symmetric_labels

    example = make_example([(PER, ORG, "Sibling"), (ORG, LOC, "Work_For")], pred)
    set_symmetric_labels(example.reference, ["Sibling"])
    scores = score_relations([example])
    assert (scores["rel_p"], scores["rel_r"]) == pytest.approx((expected_p, expected_r))


def test_strict_mode_needs_matching_entity_types():
    # Same boundaries, but the predicted Doc types "Acme Corp" as LOC: 2 gold, 2 predictions.
    # Rel: 2 correct -> P = R = F = 1.0. Rel+: only PER -> LOC keeps its types -> 1/2 = 0.5.
    gold = [(PER, ORG, "Work_For"), (PER, LOC, "Live_In")]
    example = make_example(gold, gold, pred_ents=[(0, 2, "PER"), (4, 6, "LOC"), (7, 8, "LOC")])
    scores = score_relations([example])
    assert scores["rel_f"] == pytest.approx(1.0)
    assert (scores["rel_strict_p"], scores["rel_strict_r"], scores["rel_strict_f"]) == pytest.approx((0.5, 0.5, 0.5))


def test_strict_type_comes_from_span_label_first():
    # The predicted head carries its own label "ORG" (not the mention's PER) -> strict F = 0.
    example = make_example([(PER, ORG, "Work_For")], [])
    doc = example.predicted
    doc._.relations = [Relation(head=Span(doc, 0, 2, label="ORG"), tail=doc[4:6], label="Work_For")]
    scores = score_relations([example])
    assert (scores["rel_f"], scores["rel_strict_f"]) == pytest.approx((1.0, 0.0))


@pytest.mark.parametrize("negative_label,expected_p", [("NA", 1.0), (None, 0.5)])
def test_negative_label_is_ignored(negative_label, expected_p):
    # gold: Work_For + NA(PER, LOC); pred: Work_For + NA(ORG, LOC).
    # Ignoring NA: 1 gold, 1 pred, 1 correct -> P = R = 1.0.
    # Counting NA as a label: 2 gold, 2 pred, 1 correct -> P = R = 0.5.
    gold = [(PER, ORG, "Work_For"), (PER, LOC, "NA")]
    pred = [(PER, ORG, "Work_For"), (ORG, LOC, "NA")]
    scores = score_relations([make_example(gold, pred)], negative_label=negative_label)
    assert (scores["rel_p"], scores["rel_r"]) == pytest.approx((expected_p, expected_p))
    assert ("NA" in scores["rel_per_type"]) == (negative_label is None)


# "Alice works for Acme-Corp ." tokenized two ways: "Acme", "-", "Corp" vs "Acme-Corp".
REF_WORDS, REF_SPACES = ["Alice", "works", "for", "Acme", "-", "Corp", "."], [1, 1, 1, 0, 0, 1, 0]
PRED_WORDS, PRED_SPACES = ["Alice", "works", "for", "Acme-Corp", "."], [1, 1, 1, 1, 0]


@pytest.mark.parametrize("scorer,key", [(score_relations, "rel_f"), (score_triples, "triple_exact_f")])
def test_scores_by_characters_across_tokenizations(scorer, key):
    # Reference argument tokens 3:6 and predicted tokens 3:4 cover the same characters 16:25.
    # 1 gold, 1 pred, 1 correct -> F = 1.0
    reference = make_doc(REF_WORDS, [(0, 1, "PER"), (3, 6, "ORG")], REF_SPACES)
    predicted = make_doc(PRED_WORDS, [(0, 1, "PER"), (3, 4, "ORG")], PRED_SPACES)
    relate(reference, [((0, 1), (3, 6), "Work_For")])
    relate(predicted, [((0, 1), (3, 4), "Work_For")])
    assert predicted.text == reference.text
    assert scorer([Example(predicted, reference)])[key] == pytest.approx(1.0)


def test_unreachable_gold_relations():
    # The predicted Doc misses the LOC mention: OrgBased_In(ORG -> LOC) cannot be reached;
    # Work_For can. A predicted Doc without any mention adds nothing.
    gold = [(PER, ORG, "Work_For"), (ORG, LOC, "OrgBased_In")]
    missing_loc = make_example(gold, [], pred_ents=[(0, 2, "PER"), (4, 6, "ORG")])
    no_ents = make_example(gold, [], pred_ents=[])
    assert score_relations([missing_loc, no_ents])["rel_unreachable"] == 1


@pytest.mark.parametrize("scorer,key", SCORERS)
@pytest.mark.parametrize("empty", ["no_examples", "no_relations"])
def test_nothing_to_score_gives_zero(scorer, key, empty):
    # Two entities (valid SemEval input), no relations anywhere: every F is 0.0.
    examples = [] if empty == "no_examples" else [make_example([], [], ents=[(0, 2, "PER"), (4, 6, "ORG")])]
    assert scorer(examples)[key] == 0.0


@pytest.mark.parametrize("scorer", [score_relations, score_triples, score_doc_relations])
def test_empty_docs_give_zero(scorer):
    example = Example(Doc(Vocab(), words=[]), Doc(Vocab(), words=[]))
    assert all(value == 0.0 for value in scorer([example]).values() if not isinstance(value, dict))


# ---------------------------------------------------------------------------
# score_semeval
# ---------------------------------------------------------------------------

E1, E2 = (0, 1), (2, 3)
SEMEVAL_WORDS = ["burst", "caused", "damage"]
SEMEVAL_ENTS = [(0, 1, "e1"), (2, 3, "e2")]


def semeval_example(gold, pred):
    """gold/pred: None (Other) or (label, "e1,e2" | "e2,e1"[, score]); pred may be a list."""

    def to_relations(items):
        items = items if isinstance(items, list) else [items] if items else []
        return [(E1, E2, label, *rest) if d == "e1,e2" else (E2, E1, label, *rest) for label, d, *rest in items]

    return make_example(to_relations(gold), to_relations(pred), SEMEVAL_WORDS, SEMEVAL_ENTS)


CE, CW, MT = "Cause-Effect", "Component-Whole", "Message-Topic"
SEMEVAL_CASES = [
    ((CE, "e1,e2"), (CE, "e1,e2")),  # 1 correct
    ((CE, "e2,e1"), (CE, "e1,e2")),  # 2 right relation, wrong direction
    (None, (CW, "e2,e1")),  # 3 predicted relation on an Other sentence
    ((CW, "e2,e1"), (CW, "e2,e1")),  # 4 correct
    ((CW, "e1,e2"), (CW, "e1,e2")),  # 5 correct
    (None, None),  # 6 Other, correct
    (None, (MT, "e1,e2")),  # 7 relation absent from the key
]


def test_semeval_official_macro_f1():
    # Official (9+1)-way with direction, as semeval2010_task8_scorer-v1.2.pl:
    #   Cause-Effect:    TP = 1 (sent 1); predicted CE any direction = 2 (1, 2); gold CE = 2
    #                    P = 1/2, R = 1/2, F = 0.5
    #   Component-Whole: TP = 2 (4, 5); predicted CW = 3 (3, 4, 5); gold CW = 2
    #                    P = 2/3, R = 2/2 = 1, F = 2*(2/3)/(5/3) = 0.8
    #   Message-Topic is not in the key and Other is excluded: macro over 2 relations.
    #   macro P = (0.5 + 0.667)/2 = 0.583, R = (0.5 + 1)/2 = 0.75, F = (0.5 + 0.8)/2 = 0.65
    # (an undirected scorer would give CE F = 1.0; v1.1, without wrong-direction
    # predictions in P's denominator, CE P = 1/1.)
    scores = score_semeval([semeval_example(g, p) for g, p in SEMEVAL_CASES])
    assert scores["semeval_macro_p"] == pytest.approx(7 / 12)
    assert scores["semeval_macro_r"] == pytest.approx(0.75)
    assert scores["semeval_macro_f"] == pytest.approx(0.65)
    assert scores["semeval_per_type"][CE] == pytest.approx({"p": 0.5, "r": 0.5, "f": 0.5})


def test_semeval_micro_and_accuracy():
    # Micro over directional labels, Other excluded: gold non-Other = 4 (1, 2, 4, 5);
    # predicted non-Other = 6 (1, 2, 3, 4, 5, 7); correct = 3 (1, 4, 5)
    #   P = 3/6 = 0.5, R = 3/4 = 0.75, F = 2*0.5*0.75/1.25 = 0.6
    # 19-way accuracy: 1, 4, 5, 6 right out of 7 = 0.571
    scores = score_semeval([semeval_example(g, p) for g, p in SEMEVAL_CASES])
    assert (scores["semeval_micro_p"], scores["semeval_micro_r"], scores["semeval_micro_f"]) == pytest.approx(
        (0.5, 0.75, 0.6)
    )
    assert scores["semeval_acc"] == pytest.approx(4 / 7)


@pytest.mark.parametrize(
    "pred,expected_acc",
    [
        ([(CE, "e1,e2", 0.4), (CW, "e2,e1", 0.9)], 1.0),  # highest score wins: CW(e2,e1)
        ([(CE, "e1,e2", 0.9), (CW, "e2,e1", 0.4)], 0.0),
        ([("Other", "e1,e2", 0.9), (CW, "e2,e1", 0.4)], 0.0),  # a negative prediction means Other
    ],
)
def test_semeval_picks_highest_scored_prediction(pred, expected_acc):
    assert score_semeval([semeval_example((CW, "e2,e1"), pred)])["semeval_acc"] == expected_acc


def test_semeval_needs_two_entities():
    example = make_example([], [], SEMEVAL_WORDS, [(0, 1, "e1")])
    with pytest.raises(ValueError, match="E203"):
        score_semeval([example])


# ---------------------------------------------------------------------------
# score_triples
# ---------------------------------------------------------------------------


def test_triples_exact_and_partial():
    # gold: (Alice Smith, Work_For, Acme Corp), (Alice Smith, Live_In, Paris)
    # pred: (Smith, Work_For, Corp)       exact no,  partial yes (last tokens Smith, Corp)
    #       (Alice Smith, Live_In, Paris) exact yes, partial yes
    #       (Alice, Work_For, Acme Corp)  exact no,  partial no (last token Alice)
    # exact:   1 correct / 3 pred / 2 gold -> P = 0.333, R = 0.5, F = 0.4
    # partial: 2 correct / 3 pred / 2 gold -> P = 0.667, R = 1.0, F = 0.8
    gold = [(PER, ORG, "Work_For"), (PER, LOC, "Live_In")]
    pred = [((1, 2), (5, 6), "Work_For"), (PER, LOC, "Live_In"), ((0, 1), ORG, "Work_For")]
    scores = score_triples([make_example(gold, pred)])
    assert (scores["triple_exact_p"], scores["triple_exact_r"], scores["triple_exact_f"]) == pytest.approx(
        (1 / 3, 0.5, 0.4)
    )
    assert (scores["triple_partial_p"], scores["triple_partial_r"], scores["triple_partial_f"]) == pytest.approx(
        (2 / 3, 1.0, 0.8)
    )


# "ITAR-TASS visited Casper Wyo. today ." in the corpus tokenization (reference) and in
# the one spaCy's tokenizer gives (prediction); the texts are the same.
CORPUS_WORDS = ["ITAR-TASS", "visited", "Casper", "Wyo.", "today", "."]
CORPUS_SPACES = [True, True, True, True, True, False]
SPACY_WORDS = ["ITAR", "-", "TASS", "visited", "Casper", "Wyo", ".", "today", "."]
SPACY_SPACES = [False, False, True, True, True, False, True, True, False]
GOLD_ORG, GOLD_LOC = (0, 1), (2, 4)  # ITAR-TASS, Casper Wyo.


def retokenized_example(pred, pred_text_words=(SPACY_WORDS, SPACY_SPACES)):
    words, spaces = pred_text_words
    predicted = relate(make_doc(words, [], spaces), pred)
    return Example(predicted, relate(make_doc(CORPUS_WORDS, [], CORPUS_SPACES), [(GOLD_ORG, GOLD_LOC, "OrgBased_In")]))


@pytest.mark.parametrize(
    "pred,exact,partial",
    [
        # the gold spans in the other tokenization: an exact match is a partial match
        (((0, 3), (4, 7)), 1.0, 1.0),
        # "TASS" and "Wyo" end inside the reference words "ITAR-TASS" and "Wyo."
        (((2, 3), (5, 6)), 0.0, 1.0),
        # "Wyo ." ends with the reference word "Wyo." as well
        (((0, 3), (5, 7)), 0.0, 1.0),
        # "Casper" is another reference word than "Wyo."
        (((0, 3), (4, 5)), 0.0, 0.0),
    ],
)
def test_triples_partial_match_keys_by_reference_words(pred, exact, partial):
    scores = score_triples([retokenized_example([(*pred, "OrgBased_In")])])
    assert (scores["triple_exact_r"], scores["triple_partial_r"]) == (exact, partial)
    assert (scores["triple_exact_p"], scores["triple_partial_p"]) == (exact, partial)


def test_triple_scorer_v1_keeps_its_tokenization_dependent_partial_match():
    # Configs naming .v1 score as before: "TASS" / "Wyo" are not the reference's last tokens.
    v1, v2 = (spacy.registry.scorers.get(f"spacy-relext.triple_scorer.{v}")() for v in ("v1", "v2"))
    example = retokenized_example([((2, 3), (5, 6), "OrgBased_In")])
    assert v1([example])["triple_partial_r"] == 0.0
    assert v2([example])["triple_partial_r"] == 1.0


def test_triples_align_texts_that_differ_in_whitespace():
    # The prediction reads "ITAR-TASS  visited Casper Wyo. today ." (a double space, so a
    # whitespace token): its spans are moved onto the reference characters.
    words = ["ITAR-TASS", " ", "visited", "Casper", "Wyo", ".", "today", "."]
    spaces = [True, False, True, True, False, True, True, False]
    scores = score_triples([retokenized_example([((0, 1), (3, 6), "OrgBased_In")], (words, spaces))])
    assert (scores["triple_exact_f"], scores["triple_partial_f"]) == (1.0, 1.0)
    scores = score_triples([retokenized_example([((0, 1), (4, 5), "OrgBased_In")], (words, spaces))])
    assert (scores["triple_exact_f"], scores["triple_partial_f"]) == (0.0, 1.0)
    with pytest.raises(ValueError, match="E210"):
        score_triples([retokenized_example([], (["ITAR-TASS", "left"], [True, False]))])


def test_triples_partial_match_is_one_to_one():
    # gold: (Alice Smith, Work_For, Acme Corp), (Smith, Work_For, Acme Corp): the same last words.
    # One prediction (Smith, Work_For, Corp) matches one of them: partial R = 1/2, P = 1;
    # keyed as a set, the two gold triples would merge and partial recall would read 1.
    gold = [(PER, ORG, "Work_For"), ((1, 2), ORG, "Work_For")]
    scores = score_triples([make_example(gold, [((1, 2), (5, 6), "Work_For")])])
    assert (scores["triple_partial_p"], scores["triple_partial_r"]) == (1.0, 0.5)
    scores = score_triples([make_example(gold, gold)])
    assert (scores["triple_partial_p"], scores["triple_partial_r"]) == (1.0, 1.0)


PIECE = st.tuples(st.text("ab-.", min_size=1, max_size=3), st.booleans())  # (text, space after)


@st.composite
def two_tokenizations(draw):
    """One text as two Docs: pieces not separated by a space are merged into one token
    or not, independently in each Doc."""
    pieces = draw(st.lists(PIECE, min_size=1, max_size=10))
    docs = []
    for _ in range(2):
        words, spaces = [pieces[0][0]], []
        for (_, space), (text, _) in zip(pieces, pieces[1:]):
            if not space and draw(st.booleans()):
                words[-1] += text
            else:
                words.append(text)
                spaces.append(space)
        docs.append(Doc(Vocab(), words=words, spaces=spaces + [False]))
    return docs


@st.composite
def retokenized_triples(draw):
    """An example whose predictions copy some gold triples (where the predicted
    tokenization can express them) and add random ones."""
    reference, predicted = draw(two_tokenizations())

    def random_spans(doc):
        start = draw(st.integers(0, len(doc) - 1))
        return doc[start : draw(st.integers(start + 1, len(doc)))]

    gold = [
        Relation(head=random_spans(reference), tail=random_spans(reference), label=draw(st.sampled_from("rs")))
        for _ in range(draw(st.integers(0, 4)))
    ]
    pred = []
    for rel in gold:
        head = predicted.char_span(rel.head.start_char, rel.head.end_char)
        tail = predicted.char_span(rel.tail.start_char, rel.tail.end_char)
        if head is not None and tail is not None and draw(st.booleans()):
            pred.append(Relation(head=head, tail=tail, label=rel.label))
    for _ in range(draw(st.integers(0, 4))):
        label = draw(st.sampled_from("rs"))
        pred.append(Relation(head=random_spans(predicted), tail=random_spans(predicted), label=label))
    reference._.relations, predicted._.relations = gold, pred
    return Example(predicted, reference)


@settings(max_examples=200, deadline=None)
@given(st.lists(retokenized_triples(), min_size=1, max_size=3))
def test_triples_partial_is_never_below_exact(examples):
    scores = score_triples(examples)
    for metric in "prf":
        assert scores[f"triple_partial_{metric}"] >= scores[f"triple_exact_{metric}"] - 1e-12


# ---------------------------------------------------------------------------
# score_doc_relations
# ---------------------------------------------------------------------------

# "Alice founded Acme . She left Acme for Bob ." with entities alice = {Alice, She},
# acme = {Acme, Acme} and Bob (no id: its own entity).
DOC_WORDS = ["Alice", "founded", "Acme", ".", "She", "left", "Acme", "for", "Bob", "."]
DOC_ENTS = [(0, 1, "PER", "alice"), (2, 3, "ORG", "acme"), (4, 5, "PER", "alice"), (6, 7, "ORG", "acme"), (8, 9, "PER")]
ALICE, ACME, SHE, ACME2, BOB = (0, 1), (2, 3), (4, 5), (6, 7), (8, 9)
DOC_GOLD = [
    (ALICE, ACME, "Founder"),
    (SHE, ACME2, "Founder"),  # the same fact again, on other mentions: counted once
    (BOB, ACME2, "Employee"),
    (SHE, BOB, "Knows"),
]
DOC_PRED = [
    (SHE, ACME2, "Founder"),  # correct: other mentions of the gold entities
    (BOB, ACME, "Employee"),  # correct
    (BOB, SHE, "Knows"),  # wrong direction
    (ALICE, ACME, "Employee"),  # not a gold fact
]


def doc_example(pred_ents=DOC_ENTS):
    return make_example(DOC_GOLD, DOC_PRED, DOC_WORDS, DOC_ENTS, pred_ents=pred_ents)


@pytest.mark.parametrize("pred_ents", [DOC_ENTS, []], ids=["predicted_clusters", "reference_fallback"])
def test_doc_relations_score_entity_facts(pred_ents):
    # 3 gold facts, 4 predicted facts, 2 correct -> P = 0.5, R = 0.667, F = 0.571.
    # Without mentions on the predicted Doc, arguments map to the reference clusters.
    scores = score_doc_relations([doc_example(pred_ents)])
    assert (scores["docre_p"], scores["docre_r"], scores["docre_f"]) == pytest.approx((0.5, 2 / 3, 4 / 7))
    assert scores["docre_ign_f"] == pytest.approx(scores["docre_f"])


def test_doc_relations_predicted_cluster_must_match_gold():
    # The predicted Doc misses the coreference of Alice and She: She is her own entity, not
    # {Alice, She}, so Founder(She, acme) is wrong. Only Employee(Bob, acme) stays correct:
    # 1 correct / 4 pred / 3 gold -> P = 0.25, R = 0.333
    pred_ents = [e[:3] if e[3:] == ("alice",) else e for e in DOC_ENTS]
    scores = score_doc_relations([doc_example(pred_ents)])
    assert (scores["docre_p"], scores["docre_r"]) == pytest.approx((0.25, 1 / 3))


def train_doc():
    doc = make_doc(["She", "founded", "Acme", "."], [(0, 1, "PER"), (2, 3, "ORG")])
    return relate(doc, [((0, 1), (2, 3), "Founder")])


def test_collect_train_facts():
    # Every pair of mention names of both entities: alice = {Alice, She}, acme = {Acme}.
    doc = make_doc(DOC_WORDS, DOC_ENTS)
    relate(doc, [(ALICE, ACME, "Founder")])
    assert collect_train_facts([doc]) == {("Alice", "Acme", "Founder"), ("She", "Acme", "Founder")}


def test_doc_relations_ign_f1():
    # Train fact ("She", "Acme", "Founder") matches a name pair of the correct Founder fact:
    # correct_in_train = 1. As DocRED's evaluation.py:
    #   ign P = (2 - 1) / (4 - 1) = 0.333, R = 2/3 (unchanged), ign F = 2*(1/3)*(2/3)/1 = 0.444
    # (the paper's "excluding shared facts" reading would use R = (2 - 1)/(3 - 1) = 0.5 instead.)
    train_facts = collect_train_facts([train_doc()])
    assert train_facts == {("She", "Acme", "Founder")}
    scores = score_doc_relations([doc_example()], train_facts=train_facts)
    assert scores["docre_ign_f"] == pytest.approx(4 / 9)
    assert scores["docre_f"] == pytest.approx(4 / 7)


def test_doc_relations_gold_argument_must_be_a_mention():
    example = make_example([((1, 2), ACME, "Founder")], [], DOC_WORDS, DOC_ENTS)
    with pytest.raises(ValueError, match="E200"):
        score_doc_relations([example])


def test_doc_relation_scorer_reads_train_facts(tmp_path):
    path = tmp_path / "train.spacy"
    DocBin(docs=[train_doc()], store_user_data=True).to_disk(path)
    scorer = spacy.registry.scorers.get("spacy-relext.doc_relation_scorer.v1")(train_path=str(path))
    assert scorer([doc_example()])["docre_ign_f"] == pytest.approx(4 / 9)


def test_doc_relation_scorer_unreadable_train_path(tmp_path):
    path = tmp_path / "train.spacy"
    path.write_bytes(b"not a DocBin")
    scorer = make_doc_relation_scorer(train_path=str(path))  # read when first scoring
    with pytest.raises(ValueError, match="E202"):
        scorer([doc_example()])


def test_doc_relation_scorer_without_its_train_file_leaves_ign_f_out(tmp_path):
    """A saved pipeline names its training file: elsewhere it loads and scores, with
    Ign F1 left out (not silently equal to F1) and a warning."""
    scorer = make_doc_relation_scorer(train_path=str(tmp_path / "absent.spacy"))
    with pytest.warns(UserWarning, match="W033"):
        scores = scorer([doc_example()])
    assert "docre_ign_f" not in scores and scores["docre_f"] == score_doc_relations([doc_example()])["docre_f"]


# ---------------------------------------------------------------------------
# Registry and use through Pipe.score
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", REGISTERED)
def test_registry_lookup(name):
    scorer = spacy.registry.scorers.get(name)()
    assert isinstance(scorer([]), dict)


def test_relation_scorer_config_sets_defaults():
    # Same case as test_negative_label_is_ignored: the registered default drops NA.
    gold = [(PER, ORG, "Work_For"), (PER, LOC, "NA")]
    pred = [(PER, ORG, "Work_For"), (ORG, LOC, "NA")]
    scorer = make_relation_scorer(negative_label="NA")
    assert scorer([make_example(gold, pred)])["rel_p"] == pytest.approx(1.0)


class ScoringPipe(Pipe):
    """The part of a trainable component that `Pipe.score` uses: `scorer` and `cfg`."""

    def __init__(self, scorer):
        self.scorer = scorer
        self.cfg = {"labels": ["Work_For"], "threshold": 0.5, "spans_key": None}


@pytest.mark.parametrize("name", REGISTERED)
def test_scorer_through_pipe_score_ignores_extra_cfg(name):
    pipe = ScoringPipe(spacy.registry.scorers.get(name)())
    example = make_example([], [], ents=[(0, 2, "PER"), (4, 6, "ORG")])
    assert isinstance(pipe.score([example], labels=["Work_For"], threshold=0.3), dict)
