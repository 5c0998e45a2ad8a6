"""`spacy find-threshold` tunes the `threshold` of every component that has one.

spaCy's `find_threshold` reloads the saved pipeline for each trial, sets
`pipe.cfg["threshold"]` and runs `nlp.evaluate` on a .spacy file whose predicted Docs
are plain text: the entities come from an `entity_ruler` in the pipeline. Each test
checks that the trials score differently, i.e. that the threshold reached the decisions.
"""
import pytest
import spacy
from spacy.cli.find_threshold import find_threshold
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_relext import Relation
from test_logic_reasoner import BACKBONE, NAMES, SMALL, SMALL_SCHEDULE, SPANS_KEY, make_examples as family_examples

pytestmark = pytest.mark.usefixtures("torch_single_thread")

# text, entities (start, end, label), relations (head start, tail start, label)
DATA = [
    ("Alice works for Acme in Paris .", [(0, 1, "PER"), (3, 4, "ORG"), (5, 6, "LOC")],
     [(0, 3, "Work_For"), (3, 5, "Located_In")]),
    ("Bob lives in Berlin .", [(0, 1, "PER"), (3, 4, "LOC")], [(0, 3, "Live_In")]),
    ("Dana joined Initech in Rome .", [(0, 1, "PER"), (2, 3, "ORG"), (4, 5, "LOC")],
     [(0, 2, "Work_For"), (2, 4, "Located_In")]),
    ("The storm hit Oslo and Carol left .", [(3, 4, "LOC"), (5, 6, "PER")], []),
]


@Language.component("name_mentions")
def name_mentions(doc: Doc) -> Doc:
    """The logic_reasoner test's people as mentions, clustered by name (its entity source)."""
    doc.spans[SPANS_KEY] = [Span(doc, t.i, t.i + 1, label="PER", span_id=t.text) for t in doc if t.text in NAMES]
    return doc


def make_examples(nlp):
    examples = []
    for text, ents, rels in DATA:
        predicted, reference = nlp.make_doc(text), nlp.make_doc(text)
        for doc in (predicted, reference):
            doc.ents = [Span(doc, s, e, label=label) for s, e, label in ents]
        by_start = {ent.start: ent for ent in reference.ents}
        reference._.relations = [Relation(head=by_start[h], tail=by_start[t], label=label) for h, t, label in rels]
        examples.append(Example(predicted, reference))
    return examples


def ruler_patterns():
    return [{"label": label, "pattern": text.split()[s]} for text, ents, _ in DATA for s, _, label in ents]


def trained_pipeline(tmp_path, pipes, examples_of, n_iter):
    """Train `pipes` [(factory, config)] on the data, save the pipeline and the gold
    Docs; RETURNS the two paths."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    for factory, config in pipes:
        nlp.add_pipe(factory, config=config)
    if "logic_reasoner" in nlp.pipe_names:  # the small EM schedule of the logic tests
        nlp.config["initialize"]["components"]["logic_reasoner"] = dict(SMALL_SCHEDULE)
    examples = examples_of(nlp)
    optimizer = nlp.initialize(lambda: examples)
    if "entity_ruler" in nlp.pipe_names:  # after initialize, which empties it
        nlp.get_pipe("entity_ruler").add_patterns(ruler_patterns())
    for _ in range(n_iter):
        nlp.update(examples, sgd=optimizer)
    nlp.to_disk(tmp_path / "model")
    DocBin(docs=[eg.reference for eg in examples], store_user_data=True).to_disk(tmp_path / "dev.spacy")
    return str(tmp_path / "model"), tmp_path / "dev.spacy"


def assert_threshold_matters(model, data, name, scores_key):
    best, score, scores = find_threshold(model, data, name, "threshold", scores_key, n_trials=3)
    assert sorted(scores) == [0.0, 0.5, 1.0]
    assert len(set(scores.values())) > 1, f"{name}: every threshold scored {scores}"
    assert score == max(scores.values()) > 0.0 and scores[best] == score


@pytest.mark.parametrize(
    "factory,config,scores_key",
    [
        ("clm_classifier", {}, "rel_f"),
        ("rationale_masker", {"anneal_steps": 10}, "rel_f"),
    ],
)
def test_pair_classifiers(tmp_path, factory, config, scores_key):
    model, data = trained_pipeline(tmp_path, [("entity_ruler", {}), (factory, config)], make_examples, 20)
    assert_threshold_matters(model, data, factory, scores_key)


def test_relation_detector(tmp_path):
    model, data = trained_pipeline(tmp_path, [("relation_detector", {})], make_examples, 20)
    assert_threshold_matters(model, data, "relation_detector", "rel_detect_f")


def test_span_extractor(tmp_path):
    model, data = trained_pipeline(tmp_path, [("span_extractor", {"query_all_labels": True})], make_examples, 30)
    assert_threshold_matters(model, data, "span_extractor", "triple_exact_f")


def test_logic_reasoner(tmp_path):
    pipes = [("name_mentions", {}), (BACKBONE, {}), ("logic_reasoner", SMALL)]
    model, data = trained_pipeline(tmp_path, pipes, family_examples, 0)
    assert_threshold_matters(model, data, "logic_reasoner", "docre_f")
