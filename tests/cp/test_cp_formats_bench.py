"""benchmarks/cp_formats.py end to end on a few documents: each format's files are
rewritten with one type token per type, a model is trained and scored per format."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"


def test_one_model_per_format_on_typed_wiki80(tmp_path):
    if not (CORPUS / "wiki80").is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    out = tmp_path / "cp_formats.json"
    command = [sys.executable, "benchmarks/cp_formats.py", "--corpus-dir", str(CORPUS), "--work", str(tmp_path),
               "--datasets", "wiki80", "--formats", "OnlyT", "C+M", "--seeds", "0", "--limit", "30",
               "--dev-per-relation", "2", "--jobs", "1", "--out", str(out)]
    subprocess.run(command, cwd=ROOT, check=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    result = json.loads(out.read_text())
    assert result["mode"] == "smoke" and set(result["figures"]["cells"]) == {"wiki80 OnlyT", "wiki80 C+M"}
    from spacy_relext.cp.sentence_pairs import read_docs

    only_t = list(read_docs([result["figures"]["inputs"]["wiki80 OnlyT"]["dev"]]))
    c_m = list(read_docs([result["figures"]["inputs"]["wiki80 C+M"]["dev"]]))
    # OnlyT: the two type tokens alone; C+M: the sentence as it was
    assert all(len(doc) == 2 and all(t.text.startswith("RELEXTTYPE") for t in doc) for doc in only_t)
    assert all(len(doc) > 2 and len(doc._.relations) == 1 for doc in c_m)
    cell = result["figures"]["cells"]["wiki80 OnlyT"]
    assert cell["acc"]["n"] == 1 and 0.0 <= cell["acc"]["median"] <= 1.0
    assert 0.0 <= result["figures"]["type_pair_majority"]["wiki80"]["acc"] <= 1.0


def test_type_pair_majority_predicts_each_type_pairs_most_frequent_directional_class(tmp_path):
    """The types-only control: (PER, ORG) pairs are mostly Work_For with the person as head,
    (ORG, PER) pairs mostly Work_For with the person (the second mention) as head, (PER, PER)
    mostly no relation."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import spacy
    from cp_formats import type_pair_majority
    from cp_wiki80 import write

    import spacy_relext  # noqa: F401  (Doc._.relations)
    from spacy_relext import Relation

    nlp = spacy.blank("en")

    def doc(words, labels, relation=None):
        d = spacy.tokens.Doc(nlp.vocab, words=words)
        d.ents = [spacy.tokens.Span(d, i, i + 1, label=label) for i, label in enumerate(labels)]
        if relation is not None:
            head, tail = relation
            d._.relations = [Relation(head=d.ents[head], tail=d.ents[tail], label="Work_For")]
        return d

    train = [doc(["Ann", "Acme"], ["PER", "ORG"], (0, 1))] * 2 + [doc(["Ann", "Acme"], ["PER", "ORG"])] + \
        [doc(["Acme", "Bob"], ["ORG", "PER"], (1, 0))] * 2 + [doc(["Ann", "Bob"], ["PER", "PER"])]
    dev = [doc(["Cy", "Corp"], ["PER", "ORG"], (0, 1)),   # right
           doc(["Corp", "Cy"], ["ORG", "PER"], (0, 1)),   # gold direction is the other: wrong
           doc(["Cy", "Dee"], ["PER", "PER"], (0, 1)),    # predicted no relation: missed
           doc(["Corp", "Ann"], ["ORG", "PER"])]          # predicted Work_For: a false positive
    scores = type_pair_majority(write(train, tmp_path / "train.spacy"), write(dev, tmp_path / "dev.spacy"))
    assert scores["p"] == pytest.approx(1 / 3) and scores["r"] == scores["acc"] == pytest.approx(1 / 3)
