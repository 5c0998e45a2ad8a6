"""The sentence-level pair classifier, spaCy pipelines and `diagnose` under the five entity representations."""
import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.vocab import Vocab
from test_cp import SENTENCES, write_docbin
from thinc.api import fix_random_seed

from spacy_relext import Relation
from spacy_relext.__main__ import main
from spacy_relext.cp.diagnose import diagnose_pipeline
from spacy_relext.entity_markers import ENTITY_REPRESENTATIONS, represent_doc
from spacy_relext.cp.pair_classifier import META_FILE, PairClassifier, PairTrainSettings, diagnose, score_labels
from spacy_relext.cp.pair_classifier import train_pair_classifier
from spacy_relext.scorer import score_relations
from spacy_relext.cp.sentence_pairs import read_pairs


def test_score_labels():
    gold, pred = ["a", "Other", "b", "b"], ["a", "b", "Other", "b"]
    assert score_labels(gold, pred) == {"acc": 0.5, "p": 0.5, "r": 0.5, "f": 0.5}
    scores = score_labels(gold, pred, negative_label="Other")
    assert scores["p"] == pytest.approx(2 / 3) and scores["r"] == pytest.approx(2 / 3)


def test_train_save_load_diagnose(minilm_path, tmp_path, capsys):
    train = write_docbin(tmp_path / "train.spacy", SENTENCES)
    pairs = read_pairs([train])
    settings = PairTrainSettings(epochs=1, batch_size=8, max_length=24)
    steps = []
    classifier = train_pair_classifier(pairs, minilm_path, settings, progress=lambda *a: steps.append(a))
    assert [s[0] for s in steps] == [1, 2] and classifier.labels == sorted({p.label for p in pairs})
    classifier.to_disk(tmp_path / "model")
    loaded = PairClassifier.from_disk(tmp_path / "model")
    assert loaded.predict(pairs) == classifier.predict(pairs)
    table = diagnose(loaded, pairs)
    assert list(table) == list(ENTITY_REPRESENTATIONS)
    main(["diagnose", str(tmp_path / "model"), train])
    out = capsys.readouterr().out
    assert "| accuracy |" in out and "OnlyT" in out
    partial = tmp_path / "partial"  # a pair classifier without its encoder and head
    partial.mkdir()
    (partial / META_FILE).write_text((tmp_path / "model" / META_FILE).read_text())
    with pytest.raises(SystemExit):
        main(["diagnose", str(partial), train])
    assert "E806" in capsys.readouterr().err


# --- diagnose on spaCy pipelines ----------------------------------------------

# text, entities (start, end, label), relations (head start, tail start, label)
PIPELINE_DATA = [
    ("Bill Gates founded Microsoft in 1975 .", [(0, 2, "PERSON"), (3, 4, "ORG"), (5, 6, "DATE")],
     [(3, 0, "founded_by")]),
    ("Alice works for Acme in Paris .", [(0, 1, "PERSON"), (3, 4, "ORG"), (5, 6, "LOC")],
     [(0, 3, "works_for")]),
    ("Bob joined Zeta , founded by Carol .", [(0, 1, "PERSON"), (2, 3, "ORG"), (6, 7, "PERSON")],
     [(0, 2, "works_for"), (2, 6, "founded_by")]),
]
# The first sentence under each representation, and its relation's (head, tail) texts.
REWRITTEN = {
    "C+M": ("Bill Gates founded Microsoft in 1975 .", ("Microsoft", "Bill Gates")),
    "C+T": ("person founded org in date .", ("org", "person")),
    "OnlyC": ("BLANK founded BLANK in BLANK .", ("BLANK", "BLANK")),
    "OnlyM": ("Bill Gates Microsoft 1975", ("Microsoft", "Bill Gates")),
    "OnlyT": ("person org date", ("org", "person")),
}


def gold_doc(vocab, text, ents, rels):
    doc = Doc(vocab, words=text.split())
    spans = {start: Span(doc, start, end, label=label) for start, end, label in ents}
    doc.ents = list(spans.values())
    doc.spans["entities"] = list(spans.values()) + [doc[1:2]]  # "Gates" etc.: nested in a mention
    doc._.relations = [Relation(head=spans[h], tail=spans[t], label=label) for h, t, label in rels]
    return doc


def with_gold_entities(nlp, doc):
    """The text of a gold Doc, tokenized by the pipeline, with the gold entities."""
    predicted = nlp.make_doc(doc.text)
    predicted.ents = [predicted.char_span(e.start_char, e.end_char, label=e.label_) for e in doc.ents]
    return predicted


@pytest.mark.parametrize("representation", ENTITY_REPRESENTATIONS)
def test_represent_doc(representation):
    doc = gold_doc(Vocab(), *PIPELINE_DATA[0])
    new = represent_doc(doc, representation)
    text, (head, tail) = REWRITTEN[representation]
    assert new.text.strip() == text
    assert [e.label_ for e in new.ents] == ["PERSON", "ORG", "DATE"]
    assert list(new.spans["entities"]) == list(new.ents)  # the nested "Gates" is dropped
    [rel] = new._.relations
    assert (rel.head.text, rel.tail.text, rel.label) == (head, tail, "founded_by")
    assert (rel.head.label_, rel.tail.label_) == ("ORG", "PERSON")


# The two sentences of a rewritten two-sentence Doc under each representation.
TWO_SENTENCES = {
    "C+M": ["Ann met Bob .", "Cid saw Dee ."],
    "C+T": ["person met person .", "person saw person ."],
    "OnlyC": ["BLANK met BLANK .", "BLANK saw BLANK ."],
    "OnlyM": ["Ann Bob", "Cid Dee"],
    "OnlyT": ["person person", "person person"],
}


@pytest.mark.parametrize("representation", ENTITY_REPRESENTATIONS)
def test_represent_doc_keeps_sentences(representation):
    """Sentence-scoped candidates must pair the same mentions after the rewrite."""
    words = "Ann met Bob . Cid saw Dee .".split()
    doc = Doc(Vocab(), words=words, sent_starts=[i in (0, 4) for i in range(len(words))])
    doc.ents = [Span(doc, i, i + 1, label="PERSON") for i in (0, 2, 4, 6)]
    new = represent_doc(doc, representation)
    assert [s.text.strip() for s in new.sents] == TWO_SENTENCES[representation]
    sentence = [e.sent.start for e in new.ents]
    assert sentence[0] == sentence[1] != sentence[2] == sentence[3]


@pytest.fixture(scope="module", params=["clm_classifier", "rationale_masker"])
def relation_pipeline(request):
    """A pipeline with the component, trained a few steps on `PIPELINE_DATA`."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe(request.param, config={"spans_key": None})
    docs = [gold_doc(nlp.vocab, *row) for row in PIPELINE_DATA]
    examples = [Example(with_gold_entities(nlp, doc), doc) for doc in docs]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(15):
        nlp.update(examples, sgd=optimizer)
    return nlp, docs


def test_diagnose_pipeline_c_m_is_the_plain_score(relation_pipeline):
    nlp, docs = relation_pipeline
    table = diagnose_pipeline(nlp, docs)
    assert list(table) == list(ENTITY_REPRESENTATIONS)
    assert {row["gold"] for row in table.values()} == {4}
    # the pipeline run directly on the unchanged text with gold entities
    expected = score_relations([Example(nlp(with_gold_entities(nlp, doc)), doc) for doc in docs])
    assert expected["rel_f"] > 0  # the model predicts something, so the comparison says something
    assert (table["C+M"]["p"], table["C+M"]["f"]) == pytest.approx((expected["rel_p"], expected["rel_f"]))


def test_diagnose_cli_on_pipelines(relation_pipeline, tmp_path, capsys):
    nlp, docs = relation_pipeline
    nlp.to_disk(tmp_path / "pipeline")
    dev = tmp_path / "dev.spacy"
    DocBin(docs=docs, store_user_data=True).to_disk(dev)
    main(["diagnose", str(tmp_path / "pipeline"), str(dev)])
    out = capsys.readouterr().out
    f = diagnose_pipeline(nlp, docs, ["C+M"])["C+M"]["f"]
    assert f"| relation micro-F1 | {100 * f:.1f} |" in out and "OnlyT |" in out and "4 gold relations" in out
    (tmp_path / "neither").mkdir()
    spacy.blank("en").to_disk(tmp_path / "no_relations")
    for path, code in (("neither", "E808"), ("no_relations", "E809")):
        with pytest.raises(SystemExit):
            main(["diagnose", str(tmp_path / path), str(dev)])
        assert code in capsys.readouterr().err
