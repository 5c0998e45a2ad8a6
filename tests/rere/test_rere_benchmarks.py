"""benchmarks/rere_false_negatives.py and rere.py's oracle queries, end to end on a few
CoNLL04 sentences, and the threshold-free measure they report."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
sys.path.insert(0, str(ROOT / "benchmarks"))


def test_average_precision_is_the_area_under_the_precision_recall_steps():
    from rere_false_negatives import average_precision

    assert average_precision([0.9, 0.8, 0.7, 0.6], [True, True, False, False]) == 1.0
    assert average_precision([0.9, 0.8, 0.7, 0.6], [False, False, True, True]) == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert average_precision([0.9, 0.8, 0.7], [True, False, True]) == pytest.approx((1 + 2 / 3) / 2)
    # ties rank together: one gold among two tied items counts precision 1/2, in either order
    assert average_precision([0.5, 0.5], [True, False]) == average_precision([0.5, 0.5], [False, True]) == 0.5
    assert average_precision([0.3], [False]) == 0.0


def test_false_negative_experiment_and_oracle_queries_run_end_to_end(tmp_path):
    if not (CORPUS / "conll04").is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    import data

    files = data.dataset("conll04", CORPUS, tmp_path, smoke=True)
    out = tmp_path / "fn.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "benchmarks/rere_false_negatives.py", str(files["train"]), str(files["dev"]),
                    "--work", str(tmp_path / "fn"), "--drops", "0,0.5", "--seeds", "0", "--steps", "4",
                    "--train-limit", "12", "--dev-limit", "6", "--jobs", "2", "--out", str(out)],
                   cwd=ROOT, check=True, timeout=900, env=env)
    result = json.loads(out.read_text())
    assert set(result["figures"]["summary"]) == {"drop 0.0 cpu", "drop 0.0 bce", "drop 0.5 cpu", "drop 0.5 bce"}
    rows = {row["loss"]: row for row in result["figures"]["runs"] if row["drop"] == 0.5}
    assert rows["cpu"]["tau"] == 0.5 and rows["bce"]["tau"] is None
    assert rows["cpu"]["kept"] == rows["bce"]["kept"] < rows["cpu"]["total"]  # one removal, both losses
    assert rows["cpu"]["mu"] == pytest.approx(rows["cpu"]["prior"] * 1.5)
    complete = {row["loss"]: row for row in result["figures"]["runs"] if row["drop"] == 0.0}
    # nothing removed: every triple kept, and cPU keeps the config's own tau
    assert complete["cpu"]["kept"] == complete["cpu"]["total"] and complete["cpu"]["tau"] == 0.05
    assert complete["cpu"]["mu"] == pytest.approx(complete["cpu"]["prior"] * 1.05)
    for row in result["figures"]["runs"]:
        assert 0.0 <= row["detector_pr_auc"] <= 1.0 and 0.0 <= row["oracle_triple_exact_f"] <= 1.0
    assert result["figures"]["config"] == "configs/rere_cpu.cfg"
    model = tmp_path / "fn" / "models" / "drop0.5_seed0_cpu" / "model-best"
    subprocess.run([sys.executable, "benchmarks/rere.py", str(files["train"]), str(files["dev"]),
                    str(tmp_path / "oracle"), "--oracle-model", str(model), "--dev-limit", "6"],
                   cwd=ROOT, check=True, timeout=600, env=env)
    oracle = json.loads((tmp_path / "oracle" / "oracle.json").read_text())
    assert set(oracle) >= {"triple_exact_f", "triple_partial_f"}


def test_complete_data_run_of_the_query_mode_config(tmp_path):
    """`--config configs/rere_trf.cfg`: MiniLM query mode trains, is scored, and its
    warm-up schedule is fitted to the steps asked."""
    if not (CORPUS / "conll04").is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    import data

    files = data.dataset("conll04", CORPUS, tmp_path, smoke=True)
    out = tmp_path / "trf.json"
    subprocess.run([sys.executable, "benchmarks/rere_false_negatives.py", str(files["train"]), str(files["dev"]),
                    "--work", str(tmp_path / "trf"), "--drops", "0", "--seeds", "0", "--losses", "cpu",
                    "--steps", "2", "--train-limit", "6", "--dev-limit", "3", "--jobs", "1",
                    "--config", "configs/rere_trf.cfg", "--out", str(out)],
                   cwd=ROOT, check=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    result = json.loads(out.read_text())
    assert result["figures"]["config"] == "configs/rere_trf.cfg"
    assert 0.0 <= result["figures"]["runs"][0]["oracle_triple_exact_f"] <= 1.0
    config = (tmp_path / "trf" / "models" / "drop0.0_seed0_cpu" / "model-best" / "config.cfg").read_text()
    assert "total_steps = 2" in config and "warmup_steps = 1" in config


def test_oracle_queries_read_the_gold_labels(monkeypatch):
    """The extractor is queried with exactly each sentence's gold labels."""
    import spacy
    from spacy.tokens import Doc

    import rere
    from spacy_relext.relations import Relation, get_sentence_scores, install_extensions, set_relations

    install_extensions()
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    seen = []

    class Extractor:
        def __call__(self, doc):
            seen.append([dict(get_sentence_scores(s) or {}) for s in doc.sents])
            return doc

        def score(self, examples):
            return {key: 0.5 for key in rere.KEYS}

    doc = Doc(nlp.vocab, words="Ann works for Acme . Bob lives in Rome .".split())
    set_relations(doc, [Relation(head=doc[0:1], tail=doc[3:4], label="Work_For"),
                        Relation(head=doc[5:6], tail=doc[8:9], label="Live_In")])
    monkeypatch.setattr(rere.spacy, "load", lambda path: nlp)
    monkeypatch.setattr(nlp, "get_pipe", lambda name: Extractor())
    monkeypatch.setattr(rere, "read_docs", lambda path, vocab, limit=0: [doc])
    scores = rere.oracle_queries(Path("model"), Path("dev.spacy"))
    assert seen == [[{"Work_For": 1.0}, {"Live_In": 1.0}]]
    assert scores["triple_exact_f"] == 50.0
