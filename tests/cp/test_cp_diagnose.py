"""CP fine-tuning as a spaCy pipeline (configs/cp_finetune.cfg) and `diagnose` of spaCy
pipelines under the five entity representations."""
import io
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.training.initialize import init_nlp
from spacy.training.loop import train
from spacy.vocab import Vocab
from test_cp import SENTENCES, write_docbin
from thinc.api import fix_random_seed

from spacy_relext import Relation
from spacy_relext.__main__ import main
from spacy_relext.cp.diagnose import diagnose_pipeline
from spacy_relext.entity_markers import ENTITY_REPRESENTATIONS, represent_doc
from spacy_relext.scorer import score_relations
from spacy_relext.cp.sentence_pairs import read_docs

CONFIG = Path(__file__).parents[2] / "configs" / "cp_finetune.cfg"
EPOCHS = 12  # 3 steps of 4 Docs each


def relation_triples(docs):
    return [sorted((r.head.text, r.tail.text, r.label) for r in doc._.relations) for doc in docs]


@pytest.fixture(scope="module")
def cp_finetuned(tmp_path_factory):
    """configs/cp_finetune.cfg (CP fine-tuning on MiniLM, Peng et al. 2020, section 4.2)
    trained by spaCy's own loop, as `spacy train` runs it, on the tiny `SENTENCES`."""
    tmp = tmp_path_factory.mktemp("cp_finetune")
    train_path = write_docbin(tmp / "train.spacy", SENTENCES)
    overrides = {"paths.train": train_path, "paths.dev": train_path, "training.max_epochs": EPOCHS,
                 "training.batcher.size": 4, "training.optimizer.learn_rate": 1e-4, "training.eval_frequency": 1000}
    config = spacy.util.load_config(CONFIG, overrides=overrides)
    fix_random_seed(0)
    nlp = init_nlp(config)
    (tmp / "out").mkdir()
    nlp, _ = train(nlp, tmp / "out", stdout=io.StringIO(), stderr=io.StringIO())
    return nlp, tmp / "out" / "model-last", train_path


def test_cp_finetuning_learns_a_tiny_separable_set(cp_finetuned):
    nlp, _, train_path = cp_finetuned
    docs = list(read_docs([train_path]))
    predicted = [nlp(with_gold_entities(nlp, doc, spans_key="entities")) for doc in docs]
    right = sum(p == g for p, g in zip(relation_triples(predicted), relation_triples(docs)))
    assert right >= len(docs) - 1  # the single "employer" sentence may stay unlearnt


def test_cp_finetuned_pipeline_round_trips_and_diagnoses(cp_finetuned, tmp_path, capsys):
    nlp, model_last, train_path = cp_finetuned
    loaded = spacy.load(model_last)
    docs = list(read_docs([train_path]))
    ours = [nlp(with_gold_entities(nlp, doc, spans_key="entities")) for doc in docs]
    theirs = [loaded(with_gold_entities(loaded, doc, spans_key="entities")) for doc in docs]
    assert relation_triples(ours) == relation_triples(theirs)
    scores = [[r.score for r in d._.relations] for d in (*ours, *theirs)]
    assert sum(scores[: len(docs)], []) == pytest.approx(sum(scores[len(docs) :], []))
    table = diagnose_pipeline(loaded, docs)
    assert list(table) == list(ENTITY_REPRESENTATIONS) and table["C+M"]["f"] > 0.8
    main(["diagnose", str(model_last), train_path])
    out = capsys.readouterr().out
    assert f"| relation micro-F1 | {100 * table['C+M']['f']:.1f} |" in out and "OnlyT |" in out
    assert "component 'clm_classifier'" in out


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


def with_gold_entities(nlp, doc, spans_key=None):
    """The text of a gold Doc, tokenized by the pipeline, with the gold entities (and,
    with `spans_key`, the gold span group)."""
    predicted = nlp.make_doc(doc.text)
    predicted.ents = [predicted.char_span(e.start_char, e.end_char, label=e.label_) for e in doc.ents]
    if spans_key:
        predicted.spans[spans_key] = [predicted.char_span(s.start_char, s.end_char, label=s.label_)
                                      for s in doc.spans[spans_key]]
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


@pytest.mark.parametrize("representation", ["C+T", "OnlyT"])
def test_type_tokens_stand_for_each_type_as_one_reserved_token(representation, minilm_tokenizer):
    from spacy_relext.encoders import wordpieces
    from spacy_relext.entity_markers import type_token_words

    doc = gold_doc(Vocab(), *PIPELINE_DATA[0])
    types = type_token_words(e.label_ for e in doc.ents)
    assert types == {"DATE": "RELEXTTYPE0", "ORG": "RELEXTTYPE1", "PERSON": "RELEXTTYPE2"}
    new = represent_doc(doc, representation, type_tokens=types)
    assert [e.text for e in new.ents] == ["RELEXTTYPE2", "RELEXTTYPE1", "RELEXTTYPE0"]  # one word each
    [rel] = new._.relations
    assert (rel.head.text, rel.tail.text) == ("RELEXTTYPE1", "RELEXTTYPE2")
    # spaCy's tokenizer keeps the word whole (the training readers tokenize the text again) ...
    retokenized = spacy.blank("en")(new.text)
    assert [t.text for t in retokenized] == [t.text for t in new]
    # ... and the encoder reads it as [unused8] (after the six markers), not as wordpieces
    pieces = wordpieces(minilm_tokenizer, ["RELEXTTYPE2", "RELEXTTYPE", "RELEXTTYPE2x", "person"])
    assert pieces[0] == [minilm_tokenizer.convert_tokens_to_ids("[unused8]")]
    assert all(len(p) >= 1 and p != pieces[0] for p in pieces[1:3])  # look-alikes stay wordpieces
    # without the mapping the type's words stand in, as before; a label outside it is an error
    assert "RELEXTTYPE" not in represent_doc(doc, representation).text
    with pytest.raises(ValueError, match="E811"):
        represent_doc(doc, representation, type_tokens={"ORG": "RELEXTTYPE0"})
    with pytest.raises(ValueError, match="E810"):
        type_token_words(str(i) for i in range(91))


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
