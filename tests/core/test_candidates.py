import random
import warnings

import pytest
import spacy
from spacy.tokens import Doc, Span

from spacy_relext.candidates import make_entity_pairs, make_entity_pairs_v2, token_gap
from spacy_relext.entities import get_entities, get_entity_clusters, sentence_index, sentence_starts

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


# --- spacy-relext.entity_pairs.v2: caps on the pairs per sentence and per Doc ------


def one_sentence(n_mentions, *, sentences=True):
    """"M0 and M1 and ... ." with every name a mention: all pairs in one sentence."""
    words = " and ".join(f"M{i}" for i in range(n_mentions)).split() + ["."]
    starts = [i == 0 for i in range(len(words))] if sentences else None
    doc = Doc(spacy.blank("en").vocab, words=words, sent_starts=starts)
    doc.ents = [Span(doc, 2 * i, 2 * i + 1, "X") for i in range(n_mentions)]
    return doc


def offsets(pairs):
    return [(h.start, t.start) for h, t in pairs]


def test_v2_is_registered_and_v1_keeps_no_cap():
    assert spacy.registry.misc.get("spacy-relext.entity_pairs.v2") is make_entity_pairs_v2
    doc = one_sentence(60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # v1: no cap, no warning
        assert len(make_entity_pairs()(doc)) == 60 * 59
    assert make_entity_pairs_v2().max_pairs_per_sentence == 2000 and make_entity_pairs_v2().max_pairs_per_doc == 20000


def test_sentence_cap_keeps_the_nearest_pairs_in_order_and_warns():
    doc = one_sentence(5)  # mentions at tokens 0, 2, 4, 6, 8
    with pytest.warns(UserWarning, match=r"\[W030\] Doc 'M0 and M1 and M2 and M3 and M4 \. ' has 20 candidate pairs; "
                                         r"14 of them were skipped .* max_pairs_per_sentence=6 and "
                                         r"max_pairs_per_doc=None"):
        pairs = make_entity_pairs_v2(max_pairs_per_sentence=6, max_pairs_per_doc=None)(doc)
    # Neighbours (1 token apart) first, both directions together, ties by the earlier
    # mentions; returned in the uncapped order (by head, then tail).
    assert offsets(pairs) == [(0, 2), (2, 0), (2, 4), (4, 2), (4, 6), (6, 4)]


def test_an_odd_cap_never_splits_a_pair_of_directions():
    doc = one_sentence(5)
    with pytest.warns(UserWarning, match="W030"):
        assert offsets(make_entity_pairs_v2(max_pairs_per_sentence=5)(doc)) == [(0, 2), (2, 0), (2, 4), (4, 2)]


def test_sentence_cap_applies_to_each_sentence_and_doc_cap_to_all():
    words = "A and B and C . D and E and F .".split()
    doc = Doc(spacy.blank("en").vocab, words=words, sent_starts=[i in (0, 6) for i in range(len(words))])
    doc.ents = [Span(doc, i, i + 1, "X") for i in (0, 2, 4, 6, 8, 10)]
    with pytest.warns(UserWarning, match=r"has 12 candidate pairs; 4 of them were skipped"):
        pairs = make_entity_pairs_v2(max_pairs_per_sentence=4)(doc)
    assert [(h.text, t.text) for h, t in pairs] == [("A", "B"), ("B", "A"), ("B", "C"), ("C", "B"),
                                                   ("D", "E"), ("E", "D"), ("E", "F"), ("F", "E")]
    with pytest.warns(UserWarning, match=r"has 12 candidate pairs; 10 of them were skipped"):
        pairs = make_entity_pairs_v2(max_pairs_per_sentence=4, max_pairs_per_doc=2)(doc)
    assert [(h.text, t.text) for h, t in pairs] == [("A", "B"), ("B", "A")]


def test_a_long_text_without_sentence_boundaries_is_capped():
    doc = one_sentence(150, sentences=False)  # 300 tokens, 22,350 ordered pairs, one "sentence"
    with pytest.warns(UserWarning) as record:
        pairs = make_entity_pairs_v2()(doc)
    codes = sorted(str(w.message).split("]")[0][-4:] for w in record)
    assert codes == ["W005", "W030"] and len(pairs) == 2000
    assert max(token_gap(h, t) for h, t in pairs) == 13  # the nearest: at most 7 mentions apart


@pytest.mark.parametrize("name", ["max_pairs_per_sentence", "max_pairs_per_doc"])
@pytest.mark.parametrize("value", [0, -1])
def test_bad_caps_raise(name, value):
    with pytest.raises(ValueError, match=rf"\[E305\] {name} must be >= 1 or None"):
        make_entity_pairs_v2(**{name: value})


def test_empty_mentions_are_not_paired():
    doc = Doc(spacy.blank("en").vocab, words=["A", "and", "B"])
    doc.spans["m"] = [Span(doc, 0, 1, "X"), Span(doc, 1, 1, "X"), Span(doc, 2, 3, "X")]
    assert offsets(make_entity_pairs_v2()(doc, "m")) == [(0, 2), (2, 0)]


def reference_pairs(doc, spans_key, max_distance, max_sent_gap, allowed):
    """The generator before it was vectorized: a loop over every two mentions (their
    indices in `get_entities` order)."""
    mentions = get_entities(doc, spans_key)
    starts = sentence_starts(doc)
    sent_of = [sentence_index(starts, m.start) for m in mentions]
    pairs = []
    for i, head in enumerate(mentions):
        for j, tail in enumerate(mentions):
            if i == j or (head.start, head.end) == (tail.start, tail.end):
                continue
            if max_sent_gap is not None and abs(sent_of[i] - sent_of[j]) > max_sent_gap:
                continue
            if max_distance is not None and token_gap(head, tail) > max_distance:
                continue
            if allowed is not None and (head.label_, tail.label_) not in allowed:
                continue
            pairs.append((i, j))
    return pairs, mentions, sent_of


def reference_caps(pairs, mentions, sent_of, per_sentence, per_doc):
    """The caps as documented, pair by pair: nearest first (gap, lower index, higher
    index, direction), the last kept pair dropped when its other direction is the
    first cut; per sentence pair, then per Doc; in the uncapped order."""

    def key(pair):
        i, j = pair
        return token_gap(mentions[i], mentions[j]), min(i, j), max(i, j), i > j

    def cut(items, cap):
        items = sorted(items, key=key)
        kept = items[:cap]
        if len(items) > cap and key(items[cap])[:3] == key(items[cap - 1])[:3]:
            kept = kept[:-1]
        return kept

    if per_sentence is not None:
        groups = {}
        for i, j in pairs:
            groups.setdefault((min(sent_of[i], sent_of[j]), max(sent_of[i], sent_of[j])), []).append((i, j))
        pairs = [pair for group in groups.values() for pair in cut(group, per_sentence)]
    if per_doc is not None:
        pairs = cut(pairs, per_doc)
    return sorted(pairs)


@pytest.mark.parametrize("block_pairs", [1, 7, 1 << 18])
@pytest.mark.parametrize("seed", range(3))
def test_vectorized_generator_gives_the_pairs_of_the_loop(seed, block_pairs, monkeypatch):
    """Random Docs with overlapping, nested and duplicate mentions: v1 and v2 give the
    loop's pairs in the loop's order, v2's caps keep exactly the pairs the documented
    rule keeps, and W030 counts every candidate pair. Small blocks make the generator
    prune on the way and skip pairs too far to be kept, as it does on long Docs."""
    import spacy_relext.candidates

    monkeypatch.setattr(spacy_relext.candidates, "BLOCK_PAIRS", block_pairs)
    rng = random.Random(seed)
    vocab = spacy.blank("en").vocab
    for _ in range(60):
        n = rng.randint(1, 60)
        starts = [i == 0 or rng.random() < 0.12 for i in range(n)] if rng.random() < 0.8 else None
        doc = Doc(vocab, words=["w"] * n, sent_starts=starts)
        spans = []
        for _ in range(rng.randint(0, 25)):
            start = rng.randrange(n)
            spans.append(Span(doc, start, rng.randint(start + 1, min(n, start + 4)), rng.choice("ABC")))
        doc.spans["m"] = spans
        scope, window = rng.choice(["sentence", "window", "document"]), rng.choice([1, 2])
        settings = {"max_distance": rng.choice([None, None, 0, 1, 3]), "scope": scope, "window": window,
                    "allowed_type_pairs": rng.choice([None, [["A", "B"], ["B", "A"], ["C", "C"], ["A", "C"]]])}
        allowed = settings["allowed_type_pairs"] and {tuple(p) for p in settings["allowed_type_pairs"]}
        gap = {"sentence": 0, "window": window, "document": None}[scope]
        pairs, mentions, sent_of = reference_pairs(doc, "m", settings["max_distance"], gap, allowed)

        def rows(found):
            return [(h.start, h.end, h.label_, t.start, t.end, t.label_) for h, t in found]

        expected = rows((mentions[i], mentions[j]) for i, j in pairs)
        assert rows(make_entity_pairs(**settings)(doc, "m")) == expected
        caps = {"max_pairs_per_sentence": rng.choice([None, 1, 2, 5, 11]),
                "max_pairs_per_doc": rng.choice([None, 1, 3, 8, 20])}
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            capped = rows(make_entity_pairs_v2(**settings, **caps)(doc, "m"))
        kept = reference_caps(pairs, mentions, sent_of, caps["max_pairs_per_sentence"], caps["max_pairs_per_doc"])
        assert capped == rows((mentions[i], mentions[j]) for i, j in kept)
        counts = [str(w.message) for w in record if "W030" in str(w.message)]
        if len(kept) < len(pairs):
            assert f"has {len(pairs)} candidate pairs; {len(pairs) - len(kept)} of them" in counts[0]
        else:
            assert counts == []
