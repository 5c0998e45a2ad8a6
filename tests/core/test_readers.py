import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span

from spacy_relext import Relation
from spacy_relext.readers import create_gold_ents_corpus


@pytest.fixture
def corpus_path(tmp_path):
    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words=["Alice", "Smith", "works", "for", "Acme", "."])
    doc.ents = [Span(doc, 0, 2, "PER", span_id="E0"), Span(doc, 4, 5, "ORG")]
    doc.spans["entities"] = [Span(doc, 0, 2, "PER", span_id="E0"), Span(doc, 1, 2, "PER"), Span(doc, 4, 5, "ORG")]
    doc.spans["entities"].attrs["types"] = {"E0": ["PER", "HUMAN"]}
    doc._.relations = [Relation(head=doc.ents[0], tail=doc.ents[1], label="Work_For")]
    path = tmp_path / "train.spacy"
    DocBin(store_user_data=True, docs=[doc]).to_disk(path)
    return path


def test_registered():
    assert spacy.registry.readers.get("spacy-relext.GoldEntsCorpus.v1") is create_gold_ents_corpus


def test_gold_entities_are_copied_to_predicted_docs(corpus_path):
    (eg,) = list(create_gold_ents_corpus(corpus_path)(spacy.blank("en")))
    assert [(e.text, e.label_, e.id_) for e in eg.predicted.ents] == [("Alice Smith", "PER", "E0"), ("Acme", "ORG", "")]
    group = eg.predicted.spans["entities"]
    assert [(s.text, s.label_) for s in group] == [("Alice Smith", "PER"), ("Smith", "PER"), ("Acme", "ORG")]
    assert group.attrs["types"] == {"E0": ["PER", "HUMAN"]}
    assert eg.predicted._.relations == []  # gold relations stay on the reference only
    assert [r.label for r in eg.reference._.relations] == ["Work_For"]


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"\[E201\]"):
        create_gold_ents_corpus(tmp_path / "missing.spacy")


def test_sentence_boundaries_are_copied_so_candidates_stay_in_sentences(tmp_path):
    """A multi-sentence document (a SciERC abstract) must keep its sentences in the
    predicted Doc: sentence-scoped candidates would otherwise pair across sentences."""
    nlp = spacy.blank("en")
    words = ["Alice", "met", "Bob", ".", "Carol", "saw", "Dan", "."]
    doc = Doc(nlp.vocab, words=words, sent_starts=[True, False, False, False, True, False, False, False])
    doc.ents = [Span(doc, i, i + 1, "PER") for i in (0, 2, 4, 6)]
    path = tmp_path / "two_sentences.spacy"
    DocBin(docs=[doc]).to_disk(path)
    (eg,) = list(create_gold_ents_corpus(path)(nlp))
    assert [s.text for s in eg.predicted.sents] == ["Alice met Bob .", "Carol saw Dan ."]
    clm = nlp.add_pipe("clm_classifier")
    pairs = {(h.text, t.text) for h, t in clm.get_pairs(eg.predicted)}
    assert pairs == {("Alice", "Bob"), ("Bob", "Alice"), ("Carol", "Dan"), ("Dan", "Carol")}
