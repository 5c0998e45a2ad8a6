"""The document-level backbone: `rationale_masker` with a DocumentPairClassifier model
(every pair of entity clusters of a document, across sentences, multi-label)."""
import math
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import load_model_from_config
from thinc.api import fix_random_seed

from spacy_relext.rationale import pytorch_document_pairs
from spacy_relext.relations import Relation, get_relations

CONFIGS = Path(__file__).parents[2] / "configs"
NAME = "rationale_masker"
MODEL = {"@architectures": "spacy-relext.DocumentPairClassifier.v1", "hidden_width": 32, "block_size": 8,
         "context_heads": 2, "document_lstm": True,
         "tok2vec": {"@architectures": "spacy.HashEmbedCNN.v2", "width": 32, "depth": 2, "embed_size": 500,
                     "window_size": 1, "maxout_pieces": 3, "subword_features": True, "pretrained_vectors": None}}
DOCUMENT_PAIRS = {"@misc": "spacy-relext.entity_pairs.v2", "scope": "document", "max_pairs_per_sentence": None,
                  "max_pairs_per_doc": None}
CONFIG = {"pair_level": "cluster", "multi_label": True, "max_region_length": None, "spans_key": "entities",
          "candidates": DOCUMENT_PAIRS, "model": MODEL}

# words, mentions (start, end, label, cluster), relations between clusters (head, tail, label)
DOCS = [
    (
        "Alice founded Acme . Acme opened an office in Paris . Alice lives there .",
        [(0, 1, "PER", "alice"), (2, 3, "ORG", "acme"), (4, 5, "ORG", "acme"), (9, 10, "LOC", "paris"),
         (11, 12, "PER", "alice")],
        # alice -> paris is a cross-sentence fact: no sentence mentions both clusters.
        # alice -> acme holds two labels.
        [("alice", "acme", "Founded"), ("alice", "acme", "Work_For"), ("acme", "paris", "Based_In"),
         ("alice", "paris", "Live_In")],
    ),
    (
        "Bob met Carol in Rome . Carol smiled . Initech hired Bob .",
        [(0, 1, "PER", "bob"), (2, 3, "PER", "carol"), (4, 5, "LOC", "rome"), (6, 7, "PER", "carol"),
         (9, 10, "ORG", "initech"), (11, 12, "PER", "bob")],
        [("bob", "initech", "Work_For")],
    ),
]


def make_doc(vocab, text, mentions, rels=()):
    words = text.split()
    doc = Doc(vocab, words=words, sent_starts=[i == 0 or words[i - 1] == "." for i in range(len(words))])
    spans = [Span(doc, s, e, label=label, span_id=cluster) for s, e, label, cluster in mentions]
    doc.spans["entities"] = spans
    first = {}
    for span in spans:
        first.setdefault(span.id_, span)
    doc._.relations = [Relation(head=first[h], tail=first[t], label=label) for h, t, label in rels]
    return doc


def make_examples(nlp):
    return [Example(make_doc(nlp.vocab, t, m), make_doc(nlp.vocab, t, m, r)) for t, m, r in DOCS]


def facts(doc):
    """The relations written, as (head cluster, tail cluster, label)."""
    return sorted((rel.head.id_, rel.tail.id_, rel.label) for rel in get_relations(doc))


@pytest.fixture(scope="module")
def trained():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe(NAME, config=CONFIG)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    for _ in range(60):
        losses = {}
        nlp.update(examples, sgd=optimizer, losses=losses)
    return nlp, examples, losses


def test_overfits_cross_sentence_and_multi_label_facts(trained):
    nlp, examples, losses = trained
    assert losses[NAME] < 0.2  # from about 3 at the first update
    for eg in examples:
        doc = nlp(eg.predicted.copy())
        assert facts(doc) == facts(eg.reference)
    # The cross-sentence fact is scored although no sentence holds both entities, and
    # both labels of the multi-label pair are written.
    doc = nlp(examples[0].predicted.copy())
    assert ("alice", "paris", "Live_In") in facts(doc)
    assert {label for h, t, label in facts(doc) if (h, t) == ("alice", "acme")} == {"Founded", "Work_For"}
    assert all(rel.rationale == () for rel in get_relations(doc))  # no mask is selected


def test_multi_label_targets(trained):
    nlp, examples, _ = trained
    pipe = nlp.get_pipe(NAME)
    (_, regions), targets = pipe.make_training_input(examples[:1])
    labels = ["<threshold>"] + list(pipe.labels)
    by_pair = {}
    for pair, row in zip(regions.pairs, pipe.model.ops.to_numpy(targets)):
        key = (len(pair.heads), pair.heads[0], pair.tails[0])
        by_pair[key] = {labels[c] for c in numpy.flatnonzero(row)}
    alice, acme, paris = ((0, 1), (11, 12)), ((2, 3), (4, 5)), ((9, 10),)
    assert by_pair[(2, alice[0], acme[0])] == {"Founded", "Work_For"}
    assert by_pair[(2, alice[0], paris[0])] == {"Live_In"}
    assert by_pair[(2, acme[0], alice[0])] == {"<threshold>"}  # no relation: only the threshold class
    assert len(regions.pairs) == 3 * 2  # every ordered pair of the 3 clusters, across sentences


def test_pair_order_and_context_chunks_change_nothing(trained, monkeypatch):
    nlp, examples, _ = trained
    pipe = nlp.get_pipe(NAME)
    docs = [eg.predicted for eg in examples]
    regions, _ = pipe.make_pairs(docs)
    logits, masks = pipe.model.predict((docs, regions))
    assert masks.shape == (len(regions), 0)
    shuffled = list(reversed(range(len(regions))))
    regions.pairs = [regions.pairs[p] for p in shuffled]
    reordered, _ = pipe.model.predict((docs, regions))
    assert numpy.allclose(reordered, logits[shuffled], atol=1e-5)
    regions.pairs = [regions.pairs[p] for p in shuffled]
    monkeypatch.setattr(pytorch_document_pairs, "MAX_CONTEXT_ELEMENTS", 1)  # one pair per product
    chunked, _ = pipe.model.predict((docs, regions))
    assert numpy.allclose(chunked, logits, atol=1e-5)


def test_entity_vector_reads_every_mention(trained):
    """Changing the words around a second mention of an entity changes its pairs'
    scores: the entity is pooled over all its mentions, not read at one."""
    nlp, examples, _ = trained
    pipe = nlp.get_pipe(NAME)
    text, mentions, _ = DOCS[0]
    changed = text.replace("Alice lives there", "Alice sleeps there")
    scores = []
    for version in (text, changed):
        doc = make_doc(nlp.vocab, version, mentions)
        regions, _ = pipe.make_pairs([doc])
        scores.append(pipe.model.predict(([doc], regions))[0])
    assert not numpy.allclose(scores[0], scores[1])


def test_serialization_round_trip(trained, tmp_path):
    nlp, examples, _ = trained
    pipe = nlp.get_pipe(NAME)
    pipe.cfg["keep_candidates"] = True  # every scored label, to compare the scores too
    try:
        before = [(facts(d), [round(r.score, 5) for r in get_relations(d)])
                  for d in nlp.pipe(eg.predicted.copy() for eg in examples)]
        nlp.to_disk(tmp_path / "model")
    finally:
        pipe.cfg["keep_candidates"] = False
    loaded = spacy.load(tmp_path / "model")
    loaded.get_pipe(NAME).cfg["keep_candidates"] = True
    after = [(facts(d), [round(r.score, 5) for r in get_relations(d)])
             for d in loaded.pipe(eg.predicted.copy() for eg in examples)]
    assert after == before


@pytest.mark.parametrize("model,code", [({"hidden_width": 30, "block_size": 8}, "E505"),
                                        ({"context_heads": -1}, "E505"),
                                        ({"context_heads": 5}, "E506")])
def test_invalid_model_settings(model, code):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=code):
        nlp.add_pipe(NAME, config={**CONFIG, "model": {**MODEL, **model}})
        nlp.initialize(get_examples=lambda: make_examples(nlp))


def test_mention_pairs_are_refused():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="E507"):
        nlp.add_pipe(NAME, config={**CONFIG, "pair_level": "mention"})


@pytest.mark.parametrize("name", ["docre_dwie_cpu.cfg", "docre_dwie_trf.cfg"])
def test_configs_build_the_document_backbone(name):
    config = spacy.util.load_config(CONFIGS / name)
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    pipe = nlp.get_pipe(NAME)
    assert pipe.model.name == "document_pair_classifier"
    assert pipe.cfg["pair_level"] == "cluster" and pipe.cfg["multi_label"]


def test_transformer_backbone_reads_a_document_longer_than_the_encoder(monkeypatch):
    """configs/docre_dwie_trf.cfg on a document of about 700 wordpieces, past MiniLM's
    512 positions: the transformer reads it in overlapping windows whose vectors are
    stitched per token, and the pair of an entity at the start and one at the end is
    scored from both ends of the document."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    fix_random_seed(0)
    config = spacy.util.load_config(CONFIGS / "docre_dwie_trf.cfg")
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    filler = " ".join(f"the river number {i} runs north ." for i in range(120))
    text = f"Alice founded Acme . {filler} Acme moved to Paris ."
    words = text.split()
    n = len(words)
    mentions = [(0, 1, "PER", "alice"), (2, 3, "ORG", "acme"), (n - 5, n - 4, "ORG", "acme"), (n - 2, n - 1, "LOC", "paris")]
    rels = [("alice", "acme", "Founded"), ("acme", "paris", "Based_In")]
    examples = [Example(make_doc(nlp.vocab, text, mentions), make_doc(nlp.vocab, text, mentions, rels))]
    optimizer = nlp.initialize(get_examples=lambda: examples)
    losses = {}
    nlp.update(examples, sgd=optimizer, losses=losses)
    assert math.isfinite(losses[NAME])
    pipe = nlp.get_pipe(NAME)
    scores = []
    for ending in ("Acme moved to Paris .", "Acme fled from Paris ."):
        doc = make_doc(nlp.vocab, f"Alice founded Acme . {filler} {ending}", mentions)
        doc = nlp.get_pipe("transformer")(doc)
        assert doc._.trf_data.wordpieces.input_ids.size > 512  # the encoder read it all, in windows
        regions, _ = pipe.make_pairs([doc])
        scores.append(pipe.model.predict(([doc], regions))[0])
        pairs = {(p.heads[0], p.tails[0]) for p in regions.pairs}
        assert ((0, 1), (n - 2, n - 1)) in pairs  # alice -> paris: ~700 tokens apart
    # Words past position 512 reach the pairs' scores.
    assert not numpy.allclose(scores[0], scores[1])


def test_lstm_windows_are_read_separately_and_stitched_in_order(monkeypatch):
    """The BiLSTM reads each document in windows of LSTM_WINDOW tokens, all windows
    batched: the same as reading each window on its own, in document order."""
    import torch

    monkeypatch.setattr(pytorch_document_pairs, "LSTM_WINDOW", 4)
    torch.manual_seed(0)
    module = pytorch_document_pairs.DocumentPairModule(8, 3, hidden_width=8, block_size=4, context_heads=2).eval()
    tokens = torch.randn(13, 8)
    with torch.no_grad():
        batched = module.contextualise(tokens, torch.tensor([0, 10, 13]))
        expected = []
        for start, end in [(0, 4), (4, 8), (8, 10), (10, 13)]:
            output, _ = module.lstm(tokens[None, start:end])
            expected.append(tokens[start:end] + module.lstm_projection(output[0]))
    assert torch.allclose(batched, torch.cat(expected), atol=1e-5)
