import pickle
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example

from spacy_relext import Relation, add_relations, align_relations
from spacy_relext.relations import STORE_NAME

WORDS = ["Alice", "Smith", "works", "for", "Acme", "Corp", "in", "Paris", "."]


@pytest.fixture
def nlp():
    return spacy.blank("en")


def make_doc(nlp, words=WORDS):
    doc = Doc(nlp.vocab, words=words)
    doc.ents = [Span(doc, 0, 2, label="PER", span_id="alice"), Span(doc, 4, 6, label="ORG"), Span(doc, 7, 8, label="LOC")]
    return doc


def full_relations(doc):
    return [
        Relation(head=doc.ents[0], tail=doc.ents[1], label="Work_For", score=0.75, source="clm_classifier",
                 rationale=(doc[2:4],), rules=("r <- a ^ b  [0.50]",)),
        Relation(head=doc.ents[1], tail=doc.ents[2], label="OrgBased_In"),
    ]


def as_tuples(relations):
    return [
        (r.head.start, r.head.end, r.head.label_, r.head.id_, r.tail.start, r.tail.end, r.tail.label_, r.label, r.score,
         r.source, [(s.start, s.end) for s in r.rationale], r.rules)
        for r in relations
    ]


def test_default_is_empty(nlp):
    assert make_doc(nlp)._.relations == []


def test_assign_and_read_every_field(nlp):
    doc = make_doc(nlp)
    doc._.relations = full_relations(doc)
    rels = doc._.relations
    assert as_tuples(rels) == [
        (0, 2, "PER", "alice", 4, 6, "ORG", "Work_For", 0.75, "clm_classifier", [(2, 4)], ("r <- a ^ b  [0.50]",)),
        (4, 6, "ORG", "", 7, 8, "LOC", "OrgBased_In", 1.0, "", [], ()),
    ]
    assert rels[0].head.text == "Alice Smith" and rels[0].rationale[0].text == "works for"
    assert rels[0].key == (0, 2, 4, 6, "Work_For")


def test_storage_is_plain_data(nlp):
    doc = make_doc(nlp)
    doc._.relations = full_relations(doc)
    (key, records), = [(k, v) for k, v in doc.user_data.items() if k[1] == STORE_NAME]
    assert key == ("._.", STORE_NAME, 0, len(doc.text))

    def plain(value):
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        return isinstance(value, (str, int, float))

    assert plain(records)


def test_reassign_replaces_and_add_appends(nlp):
    doc = make_doc(nlp)
    doc._.relations = full_relations(doc)
    doc._.relations = full_relations(doc)[1:]
    assert [r.label for r in doc._.relations] == ["OrgBased_In"]
    add_relations(doc, full_relations(doc)[:1])
    assert [r.label for r in doc._.relations] == ["OrgBased_In", "Work_For"]
    doc._.relations = []
    assert doc._.relations == [] and not any(k[1] == STORE_NAME for k in doc.user_data)


def test_spans_from_another_doc_raise(nlp):
    doc, other = make_doc(nlp), make_doc(nlp)
    with pytest.raises(ValueError, match=r"\[E002\]"):
        Relation(head=doc[0:1], tail=other[1:2], label="X")
    with pytest.raises(ValueError, match=r"\[E002\]"):
        Relation(head=doc[0:1], tail=doc[1:2], label="X", rationale=(other[2:3],))
    with pytest.raises(ValueError, match=r"\[E003\].*relation 0"):
        doc._.relations = [Relation(head=other[0:1], tail=other[1:2], label="X")]


@pytest.mark.parametrize(
    "kwargs,code",
    [
        ({"head": (0, 1)}, "E001"),
        ({"label": ""}, "E006"),
        ({"label": None}, "E006"),
        ({"score": float("nan")}, "E007"),
    ],
)
def test_bad_relation_fields_raise(nlp, kwargs, code):
    doc = make_doc(nlp)
    args = {"head": doc[0:1], "tail": doc[4:6], "label": "X", **kwargs}
    with pytest.raises(ValueError, match=rf"\[{code}\]"):
        Relation(**args)


def test_non_relation_items_raise(nlp):
    doc = make_doc(nlp)
    with pytest.raises(ValueError, match=r"\[E005\].*position 0"):
        doc._.relations = [(0, 1, 4, 6, "X")]


def test_spans_out_of_range_raise(nlp):
    doc = make_doc(nlp)
    with pytest.raises(IndexError):  # spaCy itself refuses such spans
        Span(doc, 7, 20)
    # Corrupted storage (e.g. written for another tokenization) is reported on read.
    doc.user_data[("._.", STORE_NAME, 0, len(doc.text))] = [
        {"head": [0, 1, "", ""], "tail": [7, 20, "", ""], "label": "X", "score": 1.0, "source": "", "rationale": [], "rules": []}
    ]
    with pytest.raises(ValueError, match=r"\[E004\].*7:20"):
        doc._.relations


def test_docbin_round_trip(nlp):
    doc = make_doc(nlp)
    doc._.relations = full_relations(doc)
    db = DocBin(store_user_data=True, docs=[doc])
    loaded = list(DocBin().from_bytes(db.to_bytes()).get_docs(nlp.vocab))[0]
    assert as_tuples(loaded._.relations) == as_tuples(doc._.relations)


def test_pickle_round_trip(nlp):
    doc = make_doc(nlp)
    doc._.relations = full_relations(doc)
    assert as_tuples(pickle.loads(pickle.dumps(doc))._.relations) == as_tuples(doc._.relations)


def merged_docs(nlp):
    """A Doc with relations, and it merged with a second one (Doc.from_docs)."""
    first, second = make_doc(nlp), Doc(nlp.vocab, words=["Bob", "visited", "Rome", "and", "Acme", "."])
    first._.relations = full_relations(first)
    second.ents = [Span(second, 0, 1, label="PER"), Span(second, 2, 3, label="LOC")]
    second._.relations = [Relation(head=second.ents[0], tail=second.ents[1], label="Live_In", score=0.5)]
    return first, Doc.from_docs([first, second])


def test_doc_from_docs_keeps_relations_of_each_doc(nlp):
    first, merged = merged_docs(nlp)
    rels = merged._.relations
    assert [(r.head.text, r.label, r.tail.text) for r in rels] == [
        ("Alice Smith", "Work_For", "Acme Corp"),
        ("Acme Corp", "OrgBased_In", "Paris"),
        ("Bob", "Live_In", "Rome"),
    ]
    assert (rels[2].head.start, rels[2].tail.end) == (len(first), len(first) + 3)
    assert rels[0].rationale[0].text == "works for" and rels[0].rules == full_relations(first)[0].rules


def test_nlp_pipe_multiprocess_keeps_relations(nlp):
    docs = [make_doc(nlp) for _ in range(4)]
    for doc in docs:
        doc._.relations = full_relations(doc)
    out = list(nlp.pipe(docs, n_process=2, batch_size=2))
    assert [as_tuples(d._.relations) for d in out] == [as_tuples(d._.relations) for d in docs]


def test_align_relations_same_tokens(nlp):
    ref = make_doc(nlp)
    ref._.relations = full_relations(ref)
    pred = Doc(nlp.vocab, words=WORDS)
    aligned, missed = align_relations(Example(pred, ref))
    assert missed == [] and all(r.doc is pred for r in aligned)
    assert as_tuples(aligned) == as_tuples(ref._.relations)


def test_align_relations_different_tokenization(nlp):
    # The predicted doc merges "Acme Corp" into one token and splits "Paris".
    pred = Doc(nlp.vocab, words=["Alice", "Smith", "works", "for", "Acme Corp", "in", "Par", "is", "."],
               spaces=[True, True, True, True, True, True, False, True, False])
    ref_text = Doc(nlp.vocab, words=WORDS, spaces=[True] * 6 + [True, True, False])
    ref_text.ents = [Span(ref_text, 0, 2, label="PER"), Span(ref_text, 4, 6, label="ORG"), Span(ref_text, 7, 8, label="LOC")]
    ref_text._.relations = [
        Relation(head=ref_text.ents[0], tail=ref_text.ents[1], label="Work_For"),
        Relation(head=ref_text.ents[1], tail=ref_text.ents[2], label="OrgBased_In"),
        Relation(head=ref_text[4:5], tail=ref_text[0:1], label="Split"),
    ]
    aligned, missed = align_relations(Example(pred, ref_text))
    assert [(r.head.text, r.label, r.tail.text) for r in aligned] == [
        ("Alice Smith", "Work_For", "Acme Corp"),
        ("Acme Corp", "OrgBased_In", "Paris"),
    ]
    assert [(r.head.start, r.head.end, r.tail.start, r.tail.end) for r in aligned] == [(0, 2, 4, 5), (4, 5, 6, 8)]
    assert [r.label for r in missed] == ["Split"]


# --- the data model's rules ------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,arg",
    [({"head": (4, 4)}, "head"), ({"tail": (6, 6)}, "tail"), ({"rationale": ((2, 3), (3, 3))}, r"rationale\[1\]")],
)
def test_empty_spans_raise(nlp, kwargs, arg):
    doc = make_doc(nlp)
    spans = {"head": (0, 2), "tail": (4, 6), "rationale": (), **kwargs}
    with pytest.raises(ValueError, match=rf"\[E008\] Relation {arg} is an empty span"):
        Relation(head=doc[slice(*spans["head"])], tail=doc[slice(*spans["tail"])], label="X",
                 rationale=tuple(doc[slice(*r)] for r in spans["rationale"]))


@pytest.mark.parametrize("score", [5.0, -3, 1.0001, -1e-9])
def test_scores_outside_0_1_raise(nlp, score):
    doc = make_doc(nlp)
    with pytest.raises(ValueError, match=r"\[E009\] Relation score must be a probability in \[0, 1\]"):
        Relation(head=doc[0:2], tail=doc[4:6], label="X", score=score)


@pytest.mark.parametrize("score", [0, 0.0, 1, 1.0, 0.5])
def test_scores_inside_0_1_are_kept(nlp, score):
    doc = make_doc(nlp)
    assert Relation(head=doc[0:2], tail=doc[4:6], label="X", score=score).score == float(score)


@pytest.mark.parametrize("value", [None, 3, Relation])
def test_assigning_anything_but_a_list_of_relations_raises(nlp, value):
    doc = make_doc(nlp)
    doc._.relations = full_relations(doc)
    if value is Relation:
        value = full_relations(doc)[0]  # one record, not a list of them
    with pytest.raises(ValueError, match=r"\[E010\] doc\._\.relations must be set to a list .* "
                                         r"doc\._\.relations = \[\]"):
        doc._.relations = value
    assert as_tuples(doc._.relations) == as_tuples(full_relations(doc))  # unchanged


# --- character offsets and retokenization ------------------------------------


def test_records_keep_character_offsets(nlp):
    doc = make_doc(nlp)
    doc._.relations = full_relations(doc)
    (records,) = [v for k, v in doc.user_data.items() if k[1] == STORE_NAME]
    assert records[0]["chars"] == [[0, 11], [22, 31], [12, 21]]  # head, tail, rationale


def test_relations_follow_a_merge_before_them(nlp):
    doc = Doc(nlp.vocab, words=["The", "firm", "Acme", "is", "in", "Paris", "."])
    doc.ents = [Span(doc, 2, 3, label="ORG"), Span(doc, 5, 6, label="LOC")]
    doc._.relations = [Relation(head=doc.ents[0], tail=doc.ents[1], label="Located_In", rationale=(doc[3:5],))]
    with doc.retokenize() as retokenizer:
        retokenizer.merge(doc[0:2])
    (rel,) = doc._.relations
    assert (rel.head.text, rel.label, rel.tail.text, rel.rationale[0].text) == ("Acme", "Located_In", "Paris", "is in")
    assert (rel.head.start, rel.tail.start) == (doc.ents[0].start, doc.ents[1].start) == (1, 4)
    assert rel.head.label_ == "ORG"


def test_relations_follow_a_split_before_them(nlp):
    doc = Doc(nlp.vocab, words=["NewYork", "and", "Acme", "in", "Paris"])
    doc.ents = [Span(doc, 2, 3, label="ORG"), Span(doc, 4, 5, label="LOC")]
    doc._.relations = [Relation(head=doc.ents[0], tail=doc.ents[1], label="Located_In")]
    with doc.retokenize() as retokenizer:
        retokenizer.split(doc[0], ["New", "York"], heads=[(doc[0], 1), doc[1]])
    (rel,) = doc._.relations
    assert (rel.head.text, rel.tail.text, rel.head.start, rel.tail.start) == ("Acme", "Paris", 3, 5)


def test_an_argument_merged_into_a_larger_token_raises(nlp):
    doc = Doc(nlp.vocab, words=["The", "firm", "Acme", "is", "in", "Paris", "."])
    doc.ents = [Span(doc, 2, 3, label="ORG"), Span(doc, 5, 6, label="LOC")]
    doc._.relations = [Relation(head=doc.ents[0], tail=doc.ents[1], label="Located_In")]
    with doc.retokenize() as retokenizer:
        retokenizer.merge(doc[2:4])  # "Acme is"
    with pytest.raises(ValueError, match=r"\[E011\] Relation 0 \(Located_In\) .* its head was written for characters "
                                         r"9:13 \('Acme'\), .* the Doc was retokenized"):
        doc._.relations
    doc._.relations = []  # the way out the message names
    assert doc._.relations == []


def test_merged_docs_then_retokenized(nlp):
    first, merged = merged_docs(nlp)
    with merged.retokenize() as retokenizer:
        retokenizer.merge(merged[2:4])  # "works for", a rationale span
    rels = merged._.relations
    assert [(r.head.text, r.label, r.tail.text) for r in rels] == [
        ("Alice Smith", "Work_For", "Acme Corp"),
        ("Acme Corp", "OrgBased_In", "Paris"),
        ("Bob", "Live_In", "Rome"),
    ]
    assert rels[0].rationale[0].text == "works for" and rels[2].head.start == len(first) - 1
    with merged.retokenize() as retokenizer:
        retokenizer.merge(merged[len(first) - 2 : len(first)])  # ". Bob": across the two blocks
    with pytest.raises(ValueError, match=r"\[E011\] Relation 2 \(Live_In\).* its head .*\('Bob'\)"):
        merged._.relations


def test_docbin_written_before_character_offsets_still_loads(nlp):
    path = Path(__file__).parent / "fixtures" / "relations_before_chars.spacy"
    plain, merged = DocBin().from_disk(path).get_docs(nlp.vocab)
    assert as_tuples(plain._.relations) == as_tuples(full_relations(plain))
    assert [(r.head.text, r.label, r.tail.text, r.score) for r in merged._.relations] == [
        ("Alice Smith", "Work_For", "Acme Corp", 0.75),
        ("Acme Corp", "OrgBased_In", "Paris", 1.0),
        ("Bob", "Live_In", "Rome", 0.5),
    ]
    merged._.relations = merged._.relations  # rewritten in the new format, unchanged
    assert [(r.head.text, r.tail.text) for r in merged._.relations][2] == ("Bob", "Rome")


def test_symmetric_labels_travel_with_the_doc():
    import pickle
    import warnings

    from spacy.tokens import Doc, DocBin

    from spacy_relext import get_symmetric_labels, set_symmetric_labels

    nlp = spacy.blank("en")
    doc = nlp("a b c")
    set_symmetric_labels(doc, ["Knows", "Meets", "Knows"])
    assert get_symmetric_labels(doc) == ("Knows", "Meets")
    (read,) = DocBin(docs=[doc], store_user_data=True).get_docs(nlp.vocab)
    assert get_symmetric_labels(read) == get_symmetric_labels(pickle.loads(pickle.dumps(doc))) == ("Knows", "Meets")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # spaCy warns about user_data it cannot merge
        merged = Doc.from_docs([doc, nlp("d e")])
    assert get_symmetric_labels(merged) == ("Knows", "Meets")
    set_symmetric_labels(doc, [])
    assert get_symmetric_labels(doc) == ()
