"""LogiRE's evaluation pieces: the F1-best threshold scan, the logic score of gold rules
on predicted facts and F1 by entity-pair distance. Every expected value is computed by hand in a comment."""
import pytest
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.vocab import Vocab

from spacy_relext import Relation
from spacy_relext.logic.evaluation import (
    DISTANCE_BUCKETS,
    best_f1_threshold,
    doc_relation_threshold_scan,
    read_logic_rules,
    score_doc_relations_by_distance,
    score_logic,
)
from spacy_relext.scorer import make_doc_relation_scorer


def make_doc(words, ents):
    """A Doc with entities given as (start, end, label[, cluster id]) token offsets."""
    doc = Doc(Vocab(), words=words)
    doc.ents = [Span(doc, e[0], e[1], label=e[2], span_id=e[3] if len(e) > 3 else "") for e in ents]
    return doc


def example(words, ents, gold, pred):
    def relate(doc, relations):
        # (head, tail, label[, score]) per relation
        doc._.relations = [Relation(head=doc[r[0][0] : r[0][1]], tail=doc[r[1][0] : r[1][1]], label=r[2],
                                    **({"score": r[3]} if len(r) > 3 else {})) for r in relations]
        return doc

    return Example(relate(make_doc(words, ents), pred), relate(make_doc(words, ents), gold))


# ---------------------------------------------------------------------------
# best_f1_threshold, doc_relation_threshold_scan
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scores,correct,n_gold,expected",
    [
        # cuts: 0.9 -> P 1, R 1/3 (F 0.5); 0.8 -> 2/3, 2/3 (F 0.667); 0.3 -> 1/2, 2/3 (F 0.571).
        # The threshold lies midway between the last score kept and the next: 0.55.
        ([0.9, 0.8, 0.8, 0.3], [True, False, True, False], 3, (0.55, 2 / 3)),
        # Equal scores go together: no cut between the two 0.8 (that one would give F 1).
        ([0.8, 0.9, 0.8], [False, True, True], 2, (0.8, 0.8)),
        ([0.9, 0.2], [False, False], 2, (None, 0.0)),
        ([], [], 2, (None, 0.0)),
    ],
    ids=["midway", "ties", "none_correct", "empty"],
)
def test_best_f1_threshold(scores, correct, n_gold, expected):
    best = best_f1_threshold(scores, correct, n_gold)
    assert (best["threshold"], best["f"]) == pytest.approx(expected)


def test_doc_relation_threshold_scan_scores_facts():
    # spouse_of(Kate, William) is stated twice (through both William mentions): the fact's
    # score is the higher, 0.9. Facts by score: spouse_of(Kate, William) 0.9 (correct),
    # royalty_of(Kate, UK) 0.7 (wrong), royalty_of(William, UK) 0.6 (correct),
    # spouse_of(UK, Kate) 0.2 (wrong); 2 gold facts. Cuts: after 0.9 F 2/3, after 0.7 F 1/2,
    # after 0.6 P 2/3 R 1 (F 0.8), after 0.2 F 2/3. Threshold midway between 0.6 and 0.2.
    gold = [(KATE, WILL, "spouse_of"), (WILL2, UK, "royalty_of")]
    pred = [(KATE, WILL, "spouse_of", 0.3), (KATE, WILL2, "spouse_of", 0.9), (KATE, UK, "royalty_of", 0.7),
            (WILL2, UK, "royalty_of", 0.6), (UK, KATE, "spouse_of", 0.2)]
    best = doc_relation_threshold_scan([example(ROYAL_WORDS, ROYAL_ENTS, gold, pred)])
    assert (best["threshold"], best["p"], best["r"]) == pytest.approx((0.4, 2 / 3, 1.0))


# ---------------------------------------------------------------------------
# read_logic_rules
# ---------------------------------------------------------------------------


def test_read_logic_rules(tmp_path):
    path = tmp_path / "rules.txt"
    path.write_text("1 ['~spouse_of'] spouse_of\n\n25 ['in2', 'in0'] in0\n", encoding="utf8")
    assert read_logic_rules(path) == [(("~spouse_of",), "spouse_of"), (("in2", "in0"), "in0")]


@pytest.mark.parametrize("line", ["1 spouse_of spouse_of", "1 [] spouse_of", "1 ['in2'] ", "['in2'] in0"])
def test_read_logic_rules_rejects_other_formats(tmp_path, line):
    path = tmp_path / "rules.txt"
    path.write_text(line + "\n", encoding="utf8")
    with pytest.raises(ValueError, match="E205"):
        read_logic_rules(path)


# ---------------------------------------------------------------------------
# score_logic
# ---------------------------------------------------------------------------

# "Kate married William . William rules UK ." with William two mentions of one entity.
ROYAL_WORDS = ["Kate", "married", "William", ".", "William", "rules", "UK", "."]
ROYAL_ENTS = [(0, 1, "PER"), (2, 3, "PER", "will"), (4, 5, "PER", "will"), (6, 7, "GPE")]
KATE, WILL, WILL2, UK = (0, 1), (2, 3), (4, 5), (6, 7)
RULES = [
    (("spouse_of", "royalty_of"), "royalty_of"),
    (("~spouse_of",), "spouse_of"),
    (("in2", "in0"), "in0"),  # never fires: left out of the mean
]


def royal(pred):
    return example(ROYAL_WORDS, ROYAL_ENTS, [], pred)


def test_logic_score_sums_counts_over_documents_then_averages_rules():
    # Doc 1: spouse_of(Kate, William) ^ royalty_of(William, UK) holds for (Kate, UK), through
    #   the two mentions of William, and royalty_of(Kate, UK) is predicted: rule 1 1/1.
    #   ~spouse_of holds for (William, Kate); spouse_of(William, Kate) is not predicted: rule 2 0/1.
    # Doc 2: spouse_of both ways: ~spouse_of holds for both pairs, both predicted: rule 2 2/2.
    # Rule 1: 1/1 = 1; rule 2: (0 + 2) / (1 + 2) = 2/3 (not the mean of the per-document
    # precisions, 0.5); rule 3 never fires. logic = (1 + 2/3) / 2 = 5/6.
    doc1 = royal([(KATE, WILL, "spouse_of"), (WILL2, UK, "royalty_of"), (KATE, UK, "royalty_of")])
    doc2 = royal([(KATE, WILL, "spouse_of"), (WILL2, KATE, "spouse_of")])
    scores = score_logic([doc1, doc2], RULES)
    assert scores["logic"] == pytest.approx(5 / 6)
    assert scores["logic_rules_fired"] == 2
    assert scores["logic_per_rule"] == {
        "royalty_of <- spouse_of ^ royalty_of": {"correct": 1, "support": 1},
        "spouse_of <- ~spouse_of": {"correct": 2, "support": 3},
        "in0 <- in2 ^ in0": {"correct": 0, "support": 0},
    }


def test_logic_score_counts_pairs_not_paths_and_keeps_x_equal_y():
    # spouse_of ^ ~spouse_of from Kate: Kate -> William -> Kate, the pair (Kate, Kate), and
    # from William (spouse_of(William, Kate) too): (William, William). Support 2, correct 0
    # (spouse_of(x, x) is never predicted), as the authors' check_rules (no diagonal mask).
    # A second path to the same pair counts once (spouse_of(Kate, UK) added below).
    rules = [(("spouse_of", "~spouse_of"), "spouse_of")]
    pred = [(KATE, WILL, "spouse_of"), (WILL2, KATE, "spouse_of")]
    assert score_logic([royal(pred)], rules)["logic_per_rule"]["spouse_of <- spouse_of ^ ~spouse_of"] == {
        "correct": 0, "support": 2}
    more = score_logic([royal(pred + [(KATE, UK, "spouse_of")])], rules)
    # From Kate: via William and via UK back to Kate, one pair (Kate, Kate); from William:
    # (William, William); ~spouse_of(Kate, UK) would need spouse_of(UK, Kate). Support 2.
    assert more["logic_per_rule"]["spouse_of <- spouse_of ^ ~spouse_of"] == {"correct": 0, "support": 2}


def test_logic_score_without_firing_rules_is_zero():
    scores = score_logic([royal([(KATE, UK, "citizen_of")])], RULES)
    assert (scores["logic"], scores["logic_rules_fired"]) == (0.0, 0)


# ---------------------------------------------------------------------------
# score_doc_relations_by_distance
# ---------------------------------------------------------------------------

# "Alice met Bob ." + 100 filler words + "She saw Carol ." with She a mention of Alice.
FAR_WORDS = ["Alice", "met", "Bob", "."] + ["w"] * 100 + ["She", "saw", "Carol", "."]
ALICE, BOB, SHE, CAROL = (0, 1), (2, 3), (104, 105), (106, 107)
FAR_ENTS = [(0, 1, "PER", "alice"), (2, 3, "PER"), (104, 105, "PER", "alice"), (106, 107, "PER")]


def test_distance_buckets_use_the_nearest_mentions():
    # Distances: Alice-Bob 1 token ("met"); Bob-Carol 103 (tokens 3..105); Alice-Carol 1
    # ("saw", between She and Carol; Alice's first mention alone would give 105).
    # Gold: knows(Alice, Bob), knows(Bob, Carol), knows(Alice, Carol).
    # Pred: knows(Alice, Bob) and knows(She, Carol) correct, knows(Carol, Bob) wrong direction.
    # 0-99: gold 2, pred 2, correct 2 -> 1.0; 100-199: gold 1, pred 1, correct 0 -> 0.0;
    # 200-399 and >=400: empty.
    gold = [(ALICE, BOB, "knows"), (BOB, CAROL, "knows"), (ALICE, CAROL, "knows")]
    pred = [(ALICE, BOB, "knows"), (CAROL, BOB, "knows"), (SHE, CAROL, "knows")]
    scores = score_doc_relations_by_distance([example(FAR_WORDS, FAR_ENTS, gold, pred)])["docre_distance"]
    assert list(scores) == ["0-99", "100-199", "200-399", ">=400"]
    assert scores["0-99"] == {"p": 1.0, "r": 1.0, "f": 1.0, "gold": 2, "pred": 2}
    assert scores["100-199"] == {"p": 0.0, "r": 0.0, "f": 0.0, "gold": 1, "pred": 1}
    assert scores[">=400"] == {"p": 0.0, "r": 0.0, "f": 0.0, "gold": 0, "pred": 0}


def test_adjacent_mentions_are_at_distance_zero():
    # "Alice Bob met Carol": Alice-Bob 0, Bob-Carol 1, Alice-Carol 2.
    # Gold r(Alice, Bob), r(Alice, Carol); pred r(Alice, Bob), r(Bob, Carol).
    # Bucket 0-0: gold 1, pred 1, correct 1. Bucket >=1: gold 1, pred 1, correct 0.
    words = ["Alice", "Bob", "met", "Carol"]
    ents = [(0, 1, "PER"), (1, 2, "PER"), (3, 4, "PER")]
    eg = example(words, ents, [((0, 1), (1, 2), "r"), ((0, 1), (3, 4), "r")],
                 [((0, 1), (1, 2), "r"), ((1, 2), (3, 4), "r")])
    scores = score_doc_relations_by_distance([eg], buckets=((0, 0), (1, None)))["docre_distance"]
    assert (scores["0-0"]["f"], scores[">=1"]["f"]) == (1.0, 0.0)
    assert (scores["0-0"]["gold"], scores[">=1"]["pred"]) == (1, 1)


def test_default_buckets_cover_every_distance_once():
    lows = [low for low, _ in DISTANCE_BUCKETS]
    assert lows[0] == 0
    assert all(high + 1 == low for (_, high), (low, _) in zip(DISTANCE_BUCKETS, DISTANCE_BUCKETS[1:]))
    assert DISTANCE_BUCKETS[-1][1] is None


# ---------------------------------------------------------------------------
# make_doc_relation_scorer reads training facts from a span group
# ---------------------------------------------------------------------------


def test_registered_doc_scorer_reads_training_mentions_from_span_group(tmp_path):
    # DWIE keeps overlapping mentions in doc.spans["entities"] only: "Kate" and "Kate Middleton"
    # overlap, so doc.ents cannot hold both. The training fact's mentions are found there.
    doc = Doc(Vocab(), words=["Kate", "Middleton", "visited", "UK", "."])
    doc.spans["entities"] = [Span(doc, 0, 2, label="PER", span_id="kate"), Span(doc, 0, 1, label="PER", span_id="kate"),
                             Span(doc, 3, 4, label="GPE")]
    doc._.relations = [Relation(head=doc[0:1], tail=doc[3:4], label="visited")]
    path = tmp_path / "train.spacy"
    DocBin(docs=[doc], store_user_data=True).to_disk(path)
    with pytest.raises(ValueError, match="E200"):
        make_doc_relation_scorer(str(path)).train_facts()  # read at the first scoring
    scorer = make_doc_relation_scorer(str(path), spans_key="entities")
    assert scorer.train_facts() == {("Kate Middleton", "UK", "visited"), ("Kate", "UK", "visited")}
