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
