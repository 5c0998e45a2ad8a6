import pytest
import spacy
from spacy.tokens import Doc, Span

from spacy_relext.candidates import make_entity_pairs, token_gap
from spacy_relext.entities import get_entity_clusters, sentence_index, sentence_starts

# Sentence 1: "Alice met Bob ." Sentence 2: "Carol lives in Rome ." Sentence 3: "Dave left ."
WORDS = ["Alice", "met", "Bob", ".", "Carol", "lives", "in", "Rome", ".", "Dave", "left", "."]
SENT_STARTS = {0, 4, 9}


@pytest.fixture
def doc():
    doc = Doc(spacy.blank("en").vocab, words=WORDS, sent_starts=[i in SENT_STARTS for i in range(len(WORDS))])
    doc.ents = [Span(doc, 0, 1, "PER"), Span(doc, 2, 3, "PER"), Span(doc, 4, 5, "PER"), Span(doc, 7, 8, "LOC"),
                Span(doc, 9, 10, "PER")]
    return doc


def texts(pairs):
    return [(h.text, t.text) for h, t in pairs]


def test_registered_by_name():
    assert spacy.registry.misc.get("spacy-relext.entity_pairs.v1") is make_entity_pairs


def test_sentence_scope_gives_ordered_pairs_within_sentences(doc):
    assert texts(make_entity_pairs()(doc)) == [("Alice", "Bob"), ("Bob", "Alice"), ("Carol", "Rome"), ("Rome", "Carol")]


def test_window_and_document_scope(doc):
    assert len(make_entity_pairs(scope="window", window=1)(doc)) == 5 * 4 - 2 * 2  # Alice, Bob <-> Dave are 2 sentences apart
    assert len(make_entity_pairs(scope="document")(doc)) == 5 * 4


@pytest.mark.parametrize("max_distance,expected", [(0, 0), (1, 2), (2, 4), (None, 4)])
def test_max_distance_zero_means_adjacent_not_unlimited(doc, max_distance, expected):
    # Alice-Bob have 1 token between them, Carol-Rome 2.
    assert len(make_entity_pairs(max_distance=max_distance)(doc)) == expected


def test_allowed_type_pairs(doc):
    assert texts(make_entity_pairs(allowed_type_pairs=[["PER", "LOC"]])(doc)) == [("Carol", "Rome")]


def test_span_group_with_overlapping_mentions(doc):
    doc.spans["entities"] = [Span(doc, 4, 5, "PER"), Span(doc, 4, 8, "EVENT"), Span(doc, 7, 8, "LOC")]
    pairs = texts(make_entity_pairs()(doc, "entities"))
    assert ("Carol", "Carol lives in Rome") in pairs and ("Carol lives in Rome", "Rome") in pairs and len(pairs) == 6


def test_missing_span_group_is_a_clear_error(doc):
    with pytest.raises(ValueError, match=r"\[E300\].*'nope'"):
        make_entity_pairs()(doc, "nope")


@pytest.mark.parametrize("kwargs,code", [({"scope": "paragraph"}, "E303"), ({"max_distance": -1}, "E304")])
def test_bad_settings_raise(kwargs, code):
    with pytest.raises(ValueError, match=rf"\[{code}\]"):
        make_entity_pairs(**kwargs)


def test_empty_doc_and_no_sentence_boundaries():
    nlp = spacy.blank("en")
    assert make_entity_pairs()(nlp("")) == []
    doc = Doc(nlp.vocab, words=["A", "and", "B", ".", "C"])
    doc.ents = [Span(doc, 0, 1, "X"), Span(doc, 4, 5, "X")]
    assert sentence_starts(doc) == [0] and len(make_entity_pairs()(doc)) == 2  # one sentence


def test_helpers(doc):
    starts = sentence_starts(doc)
    assert starts == [0, 4, 9] and [sentence_index(starts, i) for i in (0, 3, 4, 8, 9, 11)] == [0, 0, 1, 1, 2, 2]
    assert token_gap(doc[0:1], doc[2:3]) == 1 and token_gap(doc[0:3], doc[2:5]) == 0
    doc.ents = [Span(doc, 0, 1, "PER", span_id="a"), Span(doc, 2, 3, "PER"), Span(doc, 9, 10, "PER", span_id="a")]
    assert {k: [s.text for s in v] for k, v in get_entity_clusters(doc).items()} == {"a": ["Alice", "Dave"], "2:3": ["Bob"]}


@pytest.mark.parametrize("n_tokens,sentences,scope,warns", [
    (201, False, "sentence", True),  # long and unsplit: a missing sentencizer
    (201, False, "window", True),
    (201, True, "sentence", False),
    (201, False, "document", False),  # document scope asked for every pair anyway
    (200, False, "sentence", False),  # short unsplit Docs are usually one sentence (CoNLL04, SemEval)
])
def test_warns_when_a_long_doc_has_no_sentences(recwarn, n_tokens, sentences, scope, warns):
    words = ["w"] * n_tokens
    kwargs = {"sent_starts": [i % 20 == 0 for i in range(n_tokens)]} if sentences else {}
    doc = Doc(spacy.blank("en").vocab, words=words, **kwargs)
    doc.ents = [Span(doc, 0, 1, "A"), Span(doc, n_tokens - 1, n_tokens, "B")]
    make_entity_pairs(scope=scope)(doc)
    assert any("W005" in str(w.message) for w in recwarn) == warns
