"""span_extractor: pointer decoding, training with relation_detector, serialization."""

import io
import os
import shutil
from pathlib import Path

import numpy
import pytest
import spacy
import torch
from transformers import AutoTokenizer
from spacy.util import fix_random_seed, load_model_from_config

from rere_fixtures import LABELS, TRAIN_DATA, gold_triples, make_examples, triples
from spacy_relext import Relation
from spacy_relext.encoders import installed_encoder
from spacy_relext.rere.pytorch_query_pointer import ABSENT_LOGIT
from spacy_relext.rere.architectures import (
    _deserialize_query_module,
    central_window,
    query_text,
    query_windows,
    word_piece_counts,
)
from spacy_relext.rere import span_extractor as span_extractor_module
from spacy_relext.rere.pointer_decoding import cartesian_spans, decode_pointers, nearest_spans, pair_nearest
from spacy_relext.rere.span_extractor import query_chunks

TEXTS = [text for text, _ in TRAIN_DATA]


def pointer_probs(n_tokens, **pointers):
    """(n_tokens, 4) probabilities; keywords ss, se, os, oe map token -> probability."""
    probs = numpy.zeros((n_tokens, 4), dtype="float32")
    for channel, name in enumerate(("ss", "se", "os", "oe")):
        for token, p in pointers.get(name, {}).items():
            probs[token, channel] = p
    return probs


def test_nearest_spans_take_the_nearest_end_at_or_after_each_start():
    starts = numpy.array([0.9, 0.0, 0.7, 0.0, 0.2])
    ends = numpy.array([0.0, 0.8, 0.0, 0.6, 0.9])
    assert nearest_spans(starts, ends, 0.5, max_length=40) == [(0, 2, pytest.approx(0.8)), (2, 4, pytest.approx(0.6))]
    assert nearest_spans(starts, ends, 0.5, max_length=1) == []


def test_decode_nearest_pairs_subjects_with_following_objects():
    probs = pointer_probs(8, ss={0: 0.9, 5: 0.7}, se={1: 0.8, 5: 0.6}, os={3: 0.95, 7: 0.55}, oe={3: 0.9, 7: 0.7})
    pairs = decode_pointers(probs, 0.5, pairing="nearest")
    assert [(s[:2], o[:2]) for s, o, _ in pairs] == [((0, 2), (3, 4)), ((5, 6), (7, 8))]
    assert [round(score, 4) for _, _, score in pairs] == [0.8, 0.55]


def test_pair_nearest_objects_before_first_subject_go_to_it():
    pairs = pair_nearest([(3, 4, 0.9)], [(0, 1, 0.8), (6, 7, 0.7)])
    assert [(s[:2], o[:2]) for s, o, _ in pairs] == [((3, 4), (0, 1)), ((3, 4), (6, 7))]


def test_pair_nearest_subject_without_object_takes_the_nearest():
    pairs = pair_nearest([(0, 1, 0.9), (2, 3, 0.9), (6, 7, 0.9)], [(4, 5, 0.6)])
    assert [(s[:2], o[:2], score) for s, o, score in pairs] == [
        ((0, 1), (4, 5), 0.6),
        ((2, 3), (4, 5), 0.6),
        ((6, 7), (4, 5), 0.6),
    ]
    assert pair_nearest([], [(4, 5, 0.6)]) == [] and pair_nearest([(0, 1, 0.9)], []) == []


def test_cartesian_spans_merge_equal_strings_and_resolve_overlaps():
    starts, ends = numpy.array([0.9, 0.0, 0.0, 0.5, 0.0]), numpy.array([0.0, 0.8, 0.0, 0.0, 0.5])
    texts = ["New", "York", "and", "New", "York"]
    # "New York" twice: 0.9 * 0.8 + 0.5 * 0.5 = 0.97 for both; the long span (0.45) overlaps them
    merged = cartesian_spans(starts, ends, texts, max_length=40)
    assert [(s, e) for s, e, _ in merged] == [(0, 2), (3, 5)]
    assert [score for _, _, score in merged] == pytest.approx([0.97, 0.97])
    unmerged = cartesian_spans(starts, ends, None, max_length=40)
    assert [(s, e, round(score, 4)) for s, e, score in unmerged] == [(0, 2, 0.72), (3, 5, 0.25)]


def test_decode_cartesian_versus_nearest_on_the_same_scores():
    probs = pointer_probs(5, ss={0: 0.9, 3: 0.5}, se={1: 0.8, 4: 0.5}, os={2: 0.9}, oe={2: 0.9})
    texts = ["New", "York", "and", "New", "York"]
    cartesian = decode_pointers(probs, 0.5, pairing="cartesian", texts=texts)
    assert [(s[:2], o[:2], round(score, 4)) for s, o, score in cartesian] == [
        ((0, 2), (2, 3), 0.81),
        ((3, 5), (2, 3), 0.81),
    ]
    assert decode_pointers(probs, 0.5, pairing="cartesian") == [
        ((0, 2, pytest.approx(0.72)), (2, 3, pytest.approx(0.81)), pytest.approx(0.72))
    ]
    nearest = decode_pointers(probs, 0.5, pairing="nearest")
    assert [(s[:2], o[:2]) for s, o, _ in nearest] == [((0, 2), (2, 3)), ((3, 5), (2, 3))]
    with pytest.raises(ValueError, match="E601"):
        decode_pointers(probs, 0.5, pairing="greedy")


@pytest.fixture(scope="module")
def trained():
    """The two components trained together on TRAIN_DATA (fixed seed)."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("relation_detector", config={"loss": "bce"})
    nlp.add_pipe("span_extractor", config={"span_group": "rere_args"})
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(60):
        losses = nlp.update(examples, sgd=optimizer)
    return nlp, losses


def outputs(nlp, texts=TEXTS, **kwargs):
    return [[(r.key, round(r.score, 6), r.source) for r in doc._.relations] for doc in nlp.pipe(texts, **kwargs)]


def test_overfitting_both_components(trained):
    nlp, losses = trained
    assert losses["span_extractor"] < 0.05
    for i, text in enumerate(TEXTS):
        doc = nlp(text)
        assert triples(doc) == gold_triples(i)
        assert all(rel.source == "span_extractor" and rel.score >= 0.5 for rel in doc._.relations)
    scores = nlp.evaluate(make_examples(nlp))
    assert scores["triple_exact_f"] == 1.0 and scores["rel_detect_f"] == 1.0


def test_span_group(trained):
    nlp, _ = trained
    doc = nlp(TEXTS[2])
    assert {(s.start, s.end, s.label_) for s in doc.spans["rere_args"]} == {
        (0, 2, "subject"),
        (4, 5, "object"),
        (9, 10, "object"),
    }


def test_disk_and_bytes_round_trips_give_identical_outputs(trained, tmp_path):
    nlp, _ = trained
    nlp.to_disk(tmp_path)
    from_disk = spacy.load(tmp_path)
    from_bytes = load_model_from_config(nlp.config, auto_fill=True).from_bytes(nlp.to_bytes())
    expected = outputs(nlp)
    assert outputs(from_disk) == expected and outputs(from_bytes) == expected
    assert from_disk.get_pipe("span_extractor").cfg == nlp.get_pipe("span_extractor").cfg


def test_multiprocessing(trained):
    nlp, _ = trained
    assert outputs(nlp, TEXTS * 2, n_process=2, batch_size=2) == outputs(nlp, TEXTS * 2)


def test_empty_whitespace_and_long_docs(trained):
    nlp, _ = trained
    assert nlp("")._.relations == []
    assert nlp("   \n ")._.relations == []
    long_doc = nlp(" ".join(TEXTS * 60))
    assert len(long_doc) > 2000 and all(rel.source == "span_extractor" for rel in long_doc._.relations)
    assert [triples(doc) for doc in nlp.pipe(["", TEXTS[0], " "])] == [set(), gold_triples(0), set()]


def test_keeps_relations_of_other_sources(trained):
    nlp, _ = trained
    doc = nlp.make_doc(TEXTS[0])
    doc._.relations = [Relation(head=doc[4:5], tail=doc[0:1], label="user_label")]
    doc = nlp(doc)
    assert {rel.source for rel in doc._.relations} == {"", "span_extractor"}


def test_add_pipe_alone_queries_every_label():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    extractor = nlp.add_pipe("span_extractor", config={"query_all_labels": True})
    optimizer = nlp.initialize(lambda: make_examples(nlp))
    assert extractor.labels == tuple(LABELS)
    for _ in range(5):
        losses = nlp.update(make_examples(nlp), sgd=optimizer)
    assert losses["span_extractor"] > 0
    assert len(extractor.inference_queries([nlp.make_doc(TEXTS[0])])) == len(LABELS)
    extractor.cfg["query_all_labels"] = False  # no detector in the pipeline: nothing to query
    assert nlp(TEXTS[0])._.relations == []


def train_extractor_alone(config, updates=60):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    extractor = nlp.add_pipe("span_extractor", config=config)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(updates):
        nlp.update(examples, sgd=optimizer)
    return nlp, extractor


def test_absent_relation_query_returns_no_spans():
    """Trained with the default negative queries, the extractor asked for a relation
    the sentence does not express points nowhere: querying every label gives exactly the
    gold triples, and an explicit absent query gives none."""
    nlp, extractor = train_extractor_alone({"query_all_labels": True})
    assert extractor.cfg["negative_queries"] == 1
    for i, text in enumerate(TEXTS):
        assert triples(nlp(text)) == gold_triples(i)
    extractor.cfg["query_all_labels"] = False
    doc = nlp.make_doc(TEXTS[0])  # "Obama was born in Hawaii ."
    doc[:]._.relation_scores = {"works_for": 0.99, "capital_of": 0.99}
    assert extractor(doc)._.relations == []


def test_without_negative_queries_an_absent_query_finds_spans():
    """Trained on gold relations only, as the released code trains it, the same
    extractor returns triples for relations the sentences do not express."""
    nlp, _ = train_extractor_alone({"query_all_labels": True, "negative_queries": 0})
    extra = [triples(nlp(text)) - gold_triples(i) for i, text in enumerate(TEXTS)]
    assert any(extra)


@pytest.mark.parametrize("config", [{"negative_queries": 2}, {"loss": "cpu", "pairing": "cartesian"}])
def test_training_options(config):
    nlp = spacy.blank("en")
    extractor = nlp.add_pipe("span_extractor", config=config)
    optimizer = nlp.initialize(lambda: make_examples(nlp))
    assert 0 < extractor.cfg["prior"] < 1
    queries, targets = extractor.training_queries(make_examples(nlp), negatives=config.get("negative_queries", 0))
    n_gold = sum(len({lab for _, _, lab in rels}) for _, rels in TRAIN_DATA)
    assert len(queries) == n_gold + sum(
        min(config.get("negative_queries", 0), len(LABELS) - len({lab for _, _, lab in rels})) for _, rels in TRAIN_DATA
    )
    assert targets.shape == (int((queries[:, 2] - queries[:, 1]).sum()), 4)
    assert nlp.update(make_examples(nlp), sgd=optimizer)["span_extractor"] > 0


def test_no_label_and_invalid_settings():
    nlp = spacy.blank("en")
    nlp.add_pipe("span_extractor")
    with pytest.raises(ValueError, match="E400"):
        nlp.initialize(lambda: make_examples(nlp, [("No relation here .", [])]))
    with pytest.raises(ValueError, match="E601"):
        spacy.blank("en").add_pipe("span_extractor", config={"pairing": "greedy"})
    with pytest.raises(ValueError, match="E603"):
        spacy.blank("en").add_pipe("span_extractor", config={"negative_queries": -1})


def test_listener_config_trains_and_replace_listeners():
    config = spacy.util.load_config(Path(__file__).parents[2] / "configs" / "rere_cpu.cfg")
    fix_random_seed(0)
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(3):
        losses = nlp.update(examples, sgd=optimizer)
    assert losses["tok2vec"] > 0 and losses["span_extractor"] > 0
    before = outputs(nlp)
    nlp.replace_listeners("tok2vec", "span_extractor", ["model.tok2vec"])
    nlp.replace_listeners("tok2vec", "relation_detector", ["model.tok2vec"])
    assert outputs(nlp) == before


QUERY_MODEL = {
    "@architectures": "spacy-relext.QuerySpanExtractor.v1",
    "encoder": {"@misc": "spacy-relext.installed_encoder.v1"},
    "max_length": 24,
}


@pytest.fixture(scope="module")
def query_nlp():
    """Query mode (own MiniLM pass per query), a few updates."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("span_extractor", config={"model": QUERY_MODEL, "query_all_labels": True, "negative_queries": 1})
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(2):
        losses = nlp.update(examples, sgd=optimizer)
    assert losses["span_extractor"] > 0
    return nlp


def test_query_mode_predicts_and_round_trips(query_nlp):
    nlp = query_nlp
    assert nlp.get_pipe("span_extractor").model.attrs["labels"] == LABELS
    long_text = " ".join(TEXTS * 3)  # longer than max_length: read in windows
    texts = TEXTS + [long_text, ""]
    expected = outputs(nlp, texts)
    restored = load_model_from_config(nlp.config, auto_fill=True).from_bytes(nlp.to_bytes())
    assert outputs(restored, texts) == expected


def test_query_mode_reads_a_long_sentence_in_windows(query_nlp):
    """A sentence of ~55 tokens with max_length 24: every token gets the logits of the
    window where it has the most context, exactly as if that window were the sentence
    (nothing is truncated; before windowing, tokens past the 24th had no pointer)."""
    model = query_nlp.get_pipe("span_extractor").model
    words = " ".join(TEXTS[2:4] * 3).split()
    doc = query_nlp.make_doc(" ".join(words))
    logits = model.predict(([doc], model.ops.asarray2i([[0, 0, len(doc), 1]])))
    assert logits.shape == (len(doc), 4) and (logits > ABSENT_LOGIT).all()
    tokenizer = AutoTokenizer.from_pretrained(installed_encoder(), local_files_only=True)
    budget = 24 - 3 - len(tokenizer(query_text(LABELS[1], True), add_special_tokens=False)["input_ids"])
    windows = query_windows(word_piece_counts(tokenizer, words), budget)
    assert len(windows) > 2 and windows[-1][1] == len(doc)
    for t, w in enumerate(central_window(windows, len(doc))):
        a, b = windows[w]
        part = query_nlp.make_doc(" ".join(words[a:b]))
        alone = model.predict(([part], model.ops.asarray2i([[0, 0, len(part), 1]])))
        assert numpy.allclose(logits[t], alone[t - a], atol=1e-4)


def test_query_windows():
    assert query_windows([1, 2, 1, 1, 3, 1], 4) == [(0, 3), (1, 4), (2, 4), (3, 5), (4, 6)]
    assert query_windows([1, 1, 1, 1, 1, 1], 4) == [(0, 4), (2, 6)]
    assert query_windows([5, 1], 2) == [(0, 1), (1, 2)]  # a token over budget is a window
    assert query_windows([1, 1], 4) == [(0, 2)] and query_windows([], 4) == [(0, 0)]
    assert central_window([(0, 4), (2, 6)], 6) == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize(
    "label,readable",
    [("OrgBased_In", "org based in"), ("/people/person/place_lived", "people person place lived"),
     ("birthPlace", "birth place"), ("Cause-Effect", "cause effect")],
)
def test_readable_query_text(label, readable):
    assert query_text(label, readable=True) == readable
    assert query_text(label, readable=False) == label


def test_query_mode_loads_without_the_encoder_directory(tmp_path):
    """Weights, encoder config and tokenizer are saved with the pipeline: it loads and
    predicts the same after the encoder directory it was initialized from is gone."""
    encoder_dir = tmp_path / "encoder"
    shutil.copytree(installed_encoder(), encoder_dir)
    fix_random_seed(0)
    nlp = spacy.blank("en")
    model = {**QUERY_MODEL, "encoder": str(encoder_dir)}
    nlp.add_pipe("span_extractor", config={"model": model, "query_all_labels": True})
    examples = make_examples(nlp)
    nlp.update(examples, sgd=nlp.initialize(lambda: examples))
    expected = outputs(nlp, TEXTS)
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(encoder_dir)
    assert outputs(spacy.load(tmp_path / "pipeline"), TEXTS) == expected


def test_query_mode_loads_weights_saved_alone(query_nlp):
    """Pipelines saved before the tokenizer and config were saved hold a plain torch
    state dict: those load with the encoder directory of their config."""
    module = query_nlp.get_pipe("span_extractor").model.get_ref("encoder").shims[0]._model
    plain = io.BytesIO()
    torch.save(module.state_dict(), plain)
    loaded = _deserialize_query_module(None, plain.getvalue(), "cpu", encoder_path=installed_encoder(),
                                       frozen_layers=3, dropout=0.1)
    assert loaded.tokenizer.vocab == module.tokenizer.vocab
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), module.state_dict().values()))


def per_query_texts_decode(extractor, docs, batch, threshold):
    """SpanExtractor.decode before issue 24 (token texts built for every query), kept
    here as the reference of the once-per-sentence version."""
    queries, probs = batch
    relations = [[] for _ in docs]
    offset = 0
    for d, start, end, label in queries.tolist():
        doc, query_probs = docs[d], probs[offset : offset + end - start]
        offset += end - start
        pairs = decode_pointers(query_probs, threshold, pairing=extractor.cfg["pairing"],
                                texts=[token.text for token in doc[start:end]],
                                max_length=extractor.cfg["max_span_length"])
        relations[d].extend(Relation(head=doc[start + s[0] : start + s[1]], tail=doc[start + o[0] : start + o[1]],
                                     label=extractor.labels[label], score=score, source=extractor.name)
                            for s, o, score in pairs)
    return relations


@pytest.mark.parametrize("pairing", ["nearest", "cartesian"])
@pytest.mark.parametrize("seed", [0, 1])
def test_decode_equals_the_per_query_implementation(pairing, seed):
    """Random pointer probabilities over several relations queried per sentence (repeated
    words, so the cartesian rule merges equal strings)."""
    rng = numpy.random.default_rng(seed)
    nlp = spacy.blank("en")
    extractor = nlp.add_pipe("span_extractor", config={"pairing": pairing})
    for label in LABELS:
        extractor.add_label(label)
    words = ["Acme", "Corp", "in", "Paris", "and", "Acme", "Corp", "of", "Rome", "."]
    docs = [spacy.tokens.Doc(nlp.vocab, words=[str(w) for w in rng.choice(words, size=rng.integers(1, 25))],
                             sent_starts=None) for _ in range(8)]
    queries = []
    for d, doc in enumerate(docs):
        cut = int(rng.integers(0, len(doc) + 1))
        for start, end in ((0, cut), (cut, len(doc))):
            if end > start:
                queries += [(d, start, end, int(lab)) for lab in rng.choice(len(LABELS), size=3)]
    queries = numpy.asarray(queries, dtype="int32")
    n_rows = int((queries[:, 2] - queries[:, 1]).sum())
    probs = (rng.random((n_rows, 4)) ** 3).astype("float32")  # mostly low, some above the thresholds
    for threshold in (0.05, 0.3, 0.6):
        expected = per_query_texts_decode(extractor, docs, (queries, probs), threshold)
        assert extractor.decode(docs, (queries, probs), threshold) == expected
    assert any(expected)


def test_query_chunks_partition_the_queries_in_order_within_the_budget():
    lengths = [3, 4, 2, 9, 1, 1, 5]
    queries = numpy.asarray([(d // 2, 0, n, 0) for d, n in enumerate(lengths)], dtype="int32")
    chunks = list(query_chunks(queries, budget=7))
    assert numpy.array_equal(numpy.concatenate([rows for _, _, rows in chunks]), queries)
    assert [(rows[:, 2] - rows[:, 1]).tolist() for _, _, rows in chunks] == [[3, 4], [2], [9], [1, 1, 5]]
    assert [(first, last) for first, last, _ in chunks] == [(0, 0), (1, 1), (1, 1), (2, 3)]
    assert len(list(query_chunks(queries, budget=1000))) == 1


@pytest.mark.parametrize("fixture", ["trained", "query_nlp"])
def test_inference_in_query_chunks_equals_one_pass(fixture, request, monkeypatch):
    """Memory is bounded by running the queries in chunks: the pointer probabilities
    must be those of one pass over every query (sentence and query modes)."""
    nlp = request.getfixturevalue(fixture)
    nlp = nlp[0] if isinstance(nlp, tuple) else nlp
    extractor = nlp.get_pipe("span_extractor")
    monkeypatch.setitem(extractor.cfg, "query_all_labels", True)
    docs = list(nlp.pipe(TEXTS + [" ".join(TEXTS), ""]))
    queries, one_pass = extractor.predict(docs)
    monkeypatch.setattr(span_extractor_module, "MAX_QUERY_TOKENS", 12)
    assert len(list(query_chunks(queries, 12))) > 3
    chunked_queries, chunked = extractor.predict(docs)
    assert numpy.array_equal(chunked_queries, queries)
    numpy.testing.assert_allclose(chunked, one_pass, atol=1e-5)
