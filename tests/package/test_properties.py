"""Property-based tests (hypothesis): the Relation data model, the converters on random
valid and invalid records, the rationale solver and the logic rule scorer against brute
force on random small inputs."""
import itertools
import json
import math
import pickle
from collections import Counter

import pytest
import spacy
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc, DocBin, Span

from spacy_relext import Relation
from spacy_relext.convert import ConversionSummary, get_converter
from spacy_relext.logic.rules_em import RuleDoc, gold_path_counts, signature_table
from spacy_relext.logic.pytorch_logic_rules import identity_channel, path_scores, transitions
from spacy_relext.rationale.solver import budget_sizes, budgeted_viterbi, chain_marginals, truncated_marginals
from spacy_relext.relations import STORE_NAME, get_relations
from test_logic_rules import brute_force as brute_path_score
from test_rationale_solver import brute_map, brute_marginals, mask_score

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NLP = spacy.blank("en")
# Any text but lone surrogates (which no UTF-8 serializer can write).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
WORD = st.text(st.characters(whitelist_categories=("L", "N", "So")), min_size=1, max_size=6)


# --- the Relation data model ------------------------------------------------------------


@st.composite
def spans(draw, n):
    start = draw(st.integers(0, n - 1))
    return start, draw(st.integers(start + 1, n))


@st.composite
def docs_with_relations(draw):
    words = draw(st.lists(WORD, min_size=1, max_size=12))
    doc = Doc(NLP.vocab, words=words)
    n = len(doc)
    relations = []
    for _ in range(draw(st.integers(0, 4))):
        (hs, he), (ts, te) = draw(spans(n)), draw(spans(n))
        rationale = tuple(doc[s:e] for s, e in draw(st.lists(spans(n), max_size=3)))
        relations.append(
            Relation(
                head=Span(doc, hs, he, label=draw(TEXT), span_id=draw(st.one_of(st.just(""), TEXT))),
                tail=Span(doc, ts, te, label=draw(TEXT)),
                label=draw(TEXT),
                score=draw(st.floats(min_value=0.0, max_value=1.0, width=64)),
                source=draw(st.one_of(st.just(""), TEXT)),
                rationale=rationale,
                rules=tuple(draw(st.lists(TEXT, max_size=3))),
            )
        )
    doc._.relations = relations
    return doc


def view(doc):
    return [
        (r.key, r.score, r.source, r.head.label_, r.head.id_, r.tail.label_, r.tail.id_, r.head.text, r.tail.text,
         tuple((s.start, s.end, s.text) for s in r.rationale), r.rules)
        for r in get_relations(doc)
    ]


@FAST
@given(docs_with_relations())
def test_relations_survive_docbin_pickle_and_from_docs(doc):
    expected = view(doc)
    restored = list(DocBin(docs=[doc], store_user_data=True).get_docs(NLP.vocab))[0]
    assert view(restored) == expected
    assert view(pickle.loads(pickle.dumps(doc))) == expected
    merged = Doc.from_docs([Doc(NLP.vocab, words=["x", "."]), doc])
    assert [(k[0] - 2, k[1] - 2, k[2] - 2, k[3] - 2, k[4]) for k, *_ in view(merged)] == [k for k, *_ in expected]


@FAST
@given(docs_with_relations(), st.integers(1, 5), st.sampled_from(["head", "tail", "rationale"]))
def test_stored_offsets_outside_the_doc_raise_e004(doc, overshoot, field):
    n = len(doc)
    record = {"head": [0, 1, "", ""], "tail": [0, 1, "", ""], "label": "X", "score": 1.0, "source": "",
              "rationale": [], "rules": []}
    bad = [n, n + overshoot, "", ""]
    if field == "rationale":
        record["rationale"] = [bad[:2]]
    else:
        record[field] = bad
    key = ("._.", STORE_NAME, 0, len(doc.text))
    doc.user_data[key] = list(doc.user_data.get(key, [])) + [record]
    index = len(doc.user_data[key]) - 1
    with pytest.raises(ValueError, match=rf"\[E004\] Relation {index} refers to tokens {n}:{n + overshoot}, outside"):
        doc._.relations


@FAST
@given(st.one_of(st.just(""), st.integers(), st.none()), st.sampled_from([math.nan, math.inf, -math.inf]))
def test_invalid_label_and_score_raise(label, score):
    doc = Doc(NLP.vocab, words=["a", "b"])
    with pytest.raises(ValueError, match=r"\[E006\]"):
        Relation(head=doc[0:1], tail=doc[1:2], label=label)
    with pytest.raises(ValueError, match=r"\[E007\]"):
        Relation(head=doc[0:1], tail=doc[1:2], label="X", score=score)


@FAST
@given(st.one_of(st.floats(max_value=-1e-300, allow_infinity=False, allow_nan=False),
                 st.floats(min_value=1.0 + 1e-15, allow_infinity=False, allow_nan=False)))
def test_scores_outside_0_1_raise(score):
    doc = Doc(NLP.vocab, words=["a", "b"])
    with pytest.raises(ValueError, match=r"\[E009\]"):
        Relation(head=doc[0:1], tail=doc[1:2], label="X", score=score)


# --- converters -------------------------------------------------------------------------

TYPES = st.sampled_from(["Peop", "Loc", "Org"])
LABELS = st.sampled_from(["Live_In", "Work_For", "Kill"])


@st.composite
def conll_records(draw):
    words = draw(st.lists(WORD, min_size=1, max_size=10))
    mentions = draw(st.lists(spans(len(words)), max_size=4, unique=True))
    entities = [[s, e, draw(TYPES)] for s, e in mentions]
    relations = []
    if mentions:
        for _ in range(draw(st.integers(0, 3))):
            (hs, he), (ts, te) = draw(st.sampled_from(mentions)), draw(st.sampled_from(mentions))
            relations.append([hs, he, ts, te, draw(LABELS)])
    return {"tokens": words, "entities": entities, "relations": relations}


def break_record(draw, record):
    """A copy of a valid record with one mistake a user's file could have."""
    n = len(record["tokens"])
    record = json.loads(json.dumps(record))
    mistakes = ["drop tokens", "drop entities", "drop relations", "no tokens", "tokens not a list",
                "entity outside", "entity empty", "entity type not a string", "relation outside",
                "relation row too short", "relation label empty", "relation label not a string"]
    mistake = draw(st.sampled_from(mistakes))
    if mistake.startswith("drop"):
        del record[mistake.split()[1]]
    elif mistake == "no tokens":
        record["tokens"] = []
    elif mistake == "tokens not a list":
        record["tokens"] = " ".join(record["tokens"])
    elif mistake.startswith("entity"):
        start = draw(st.integers(0, n - 1))
        bad = {"entity outside": [start, n + draw(st.integers(1, 3)), "Loc"], "entity empty": [start, start, "Loc"],
               "entity type not a string": [start, start + 1, 7]}[mistake]
        record["entities"].append(bad)
    else:
        row = {"relation outside": [0, 1, n, n + 1, "Kill"], "relation row too short": [0, 1, 0, "Kill"],
               "relation label empty": [0, 1, 0, 1, ""], "relation label not a string": [0, 1, 0, 1, 3]}[mistake]
        record["relations"].append(row)
    return record, mistake


def convert_records(tmp_path, records):
    """The conll04 converter on the records (as `convert` runs it, minus the progress bar)."""
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records), encoding="utf8")
    return path, list(get_converter("conll04")(path, NLP, ConversionSummary(fmt="conll04")))


@FAST
@given(st.lists(conll_records(), min_size=1, max_size=4))
def test_conll04_converts_random_valid_records_exactly(tmp_path, records):
    docs = convert_records(tmp_path, records)[1]
    assert len(docs) == len(records)
    for record, doc in zip(records, docs):
        assert [t.text for t in doc] == record["tokens"]
        assert sorted((s.start, s.end, s.label_) for s in doc.spans["entities"]) == sorted(map(tuple, record["entities"]))
        assert sorted(r.key for r in doc._.relations) == sorted(tuple(row) for row in record["relations"])
        restored = list(DocBin(docs=[doc], store_user_data=True).get_docs(NLP.vocab))[0]
        assert view(restored) == view(doc)


@FAST
@given(st.lists(conll_records(), min_size=1, max_size=3), st.data())
def test_conll04_invalid_record_is_e101_naming_file_and_record(tmp_path, records, data):
    index = data.draw(st.integers(0, len(records) - 1))
    records[index], mistake = break_record(data.draw, records[index])
    with pytest.raises(ValueError) as err:
        convert_records(tmp_path, records)
    path = tmp_path / "records.json"
    assert f"[E101] Malformed record in {path} (record {index})" in str(err.value), (mistake, str(err.value))


# --- the rationale solver (RE2) ---------------------------------------------------------

SCORES = st.floats(-3, 3, allow_nan=False)


@st.composite
def chains(draw):
    length = draw(st.integers(1, 6))
    scores = torch.tensor([draw(st.lists(SCORES, min_size=length, max_size=length))], dtype=torch.float64)
    trans = torch.tensor([draw(st.lists(st.floats(0, 2), min_size=length, max_size=length))], dtype=torch.float64)
    return scores, trans, torch.ones(1, length, dtype=torch.bool), length


@FAST
@given(chains(), st.sampled_from([0.2, 0.5, 1.0]))
def test_budgeted_viterbi_is_the_best_mask_within_budget(chain, k_ratio):
    scores, trans, valid, length = chain
    budget = budget_sizes(valid.sum(1), k_ratio)
    mask = budgeted_viterbi(scores, trans, valid, budget)[0]
    best = brute_map(scores[0], trans[0], length, int(budget[0]))
    assert float(mask.sum()) <= int(budget[0])
    assert mask_score(mask, scores[0], trans[0]) == pytest.approx(mask_score(best, scores[0], trans[0]), abs=1e-9)


@FAST
@given(chains(), st.sampled_from([0.3, 0.6]), st.sampled_from([1.0, 0.5]))
def test_chain_and_truncated_marginals_match_enumeration(chain, k_ratio, tau):
    scores, trans, valid, length = chain
    mu, log_z = chain_marginals(scores, trans, valid)
    expected, expected_log_z = brute_marginals(scores[0], trans[0], length)
    assert torch.allclose(mu[0], expected, atol=1e-9) and math.isclose(float(log_z[0]), expected_log_z, abs_tol=1e-9)
    budget = budget_sizes(valid.sum(1), k_ratio)
    mu, log_z = truncated_marginals(scores, trans, valid, budget, temperature=tau)
    expected, expected_log_z = brute_marginals(scores[0], trans[0], length, budget=int(budget[0]), tau=tau)
    assert torch.allclose(mu[0], expected, atol=1e-9) and math.isclose(float(log_z[0]), expected_log_z, abs_tol=1e-9)


# --- the logic rule scorer --------------------------------------------------------------


@st.composite
def graphs(draw):
    n, r = draw(st.integers(1, 4)), draw(st.integers(1, 2))
    logits = torch.tensor(draw(st.lists(st.floats(-4, 4), min_size=n * n * r, max_size=n * n * r))).reshape(n, n, r)
    gold = torch.tensor(draw(st.lists(st.booleans(), min_size=n * n * r, max_size=n * n * r))).reshape(n, n, r)
    return logits, gold


@FAST
@given(graphs(), st.data())
def test_rule_path_scores_match_brute_force(graph, data):
    logits, _ = graph
    n, r = logits.shape[0], logits.shape[2]
    trans = transitions(logits)
    bodies = data.draw(st.lists(st.lists(st.integers(0, 2 * r), min_size=3, max_size=3), min_size=1, max_size=4))
    scores = path_scores(trans, torch.tensor(bodies), max_elements=data.draw(st.sampled_from([7, 1 << 22])))
    for u, body in enumerate(bodies):
        for h, t in itertools.product(range(n), repeat=2):
            assert float(scores[u, h, t]) == pytest.approx(brute_path_score(trans, body, h, t), abs=1e-4)


def brute_path_counts(gold, max_length=3):
    """Count every chain h = v0, v1, .., vk = t (k <= max_length; inner nodes distinct and
    neither h nor t) over gold edges and inverse edges, per gold fact's signature."""
    n, r = gold.shape[0], gold.shape[2]
    ident = identity_channel(r)

    def channels(a, b):
        return [c for c in range(r) if gold[a, b, c]] + [r + c for c in range(r) if gold[b, a, c]]

    counts = {}
    for h, t, rel in gold.nonzero().tolist():
        bucket = counts.setdefault(rel, Counter())
        inner = [v for v in range(n) if v not in (h, t)]
        for k in range(1, max_length + 1):
            for mids in itertools.permutations(inner, k - 1):
                nodes = (h, *mids, t)
                for body in itertools.product(*(channels(a, b) for a, b in zip(nodes, nodes[1:]))):
                    bucket[tuple(body) + (ident,) * (max_length - k)] += 1
    return {rel: dict(c) for rel, c in counts.items() if c}


@FAST
@given(graphs())
def test_gold_path_counts_match_brute_force(graph):
    logits, gold = graph
    n, r = gold.shape[0], gold.shape[2]
    table = signature_table([(0, rel, 0) for rel in range(r)], 1, r)  # one type: signature id = relation
    counts = gold_path_counts([RuleDoc(logits, torch.zeros(n, dtype=torch.long), gold)], table)
    assert counts == brute_path_counts(gold)
