"""`make demo` and the build of its pipeline (`demo-build`), on a tiny CoNLL04 corpus."""
import json

import pytest
from spacy.tokens import DocBin
from spacy.vocab import Vocab

from spacy_relext.demo import (BUILD_RECORD, DEMO_PIPELINE, SAMPLE_DEV, build_demo_pipeline, precision_threshold,
                                run_demo)

SAMPLE_TRAIN = SAMPLE_DEV.parent / "train.json"


def test_precision_threshold_best_f1_among_precise_thresholds():
    # scores 0.9 (right), 0.8 (wrong), 0.7 (right), 0.6 (right), 0.5 (wrong); 4 gold
    scored = [(0.9, True), (0.8, False), (0.7, True), (0.6, True), (0.5, False)]
    threshold, at = precision_threshold(scored, 4, min_precision=0.7)
    assert threshold == 0.6 and at["met"]  # 3 of 4 kept right: P 0.75, R 0.75
    assert at["p"] == pytest.approx(0.75) and at["r"] == pytest.approx(0.75)
    threshold, at = precision_threshold(scored, 4, min_precision=0.95)
    assert threshold == 0.9 and at["p"] == 1.0


def test_precision_threshold_keeps_ties_together_and_says_when_unmet():
    # a threshold cannot separate two predictions of one score
    threshold, at = precision_threshold([(0.5, True), (0.5, False)], 2, min_precision=0.9)
    assert threshold == 0.5 and not at["met"] and at["p"] == 0.5
    assert precision_threshold([], 3, min_precision=0.5) == (0.0, {"p": 0.0, "r": 0.0, "f": 0.0, "met": False})


@pytest.fixture
def tiny_corpus(tmp_path):
    """A corpus folder laid out as ../shared/corpus: train is the bundled train sample,
    valid the bundled dev sample plus 20 other sentences (the selection sentences)."""
    conll04 = tmp_path / "corpus" / "conll04"
    conll04.mkdir(parents=True)
    train = json.loads(SAMPLE_TRAIN.read_text(encoding="utf8"))
    dev = json.loads(SAMPLE_DEV.read_text(encoding="utf8"))
    (conll04 / "train.CoNLL04.json").write_text(json.dumps(train[20:]), encoding="utf8")
    (conll04 / "valid.CoNLL04.json").write_text(json.dumps(dev + train[:20]), encoding="utf8")
    return tmp_path / "corpus"


def test_build_then_demo(tiny_corpus, tmp_path, capsys):
    output = tmp_path / "demo_pipeline"
    record = build_demo_pipeline(tiny_corpus, output, max_steps=4, eval_frequency=2, min_precision=0.5)
    saved = json.loads((output / BUILD_RECORD).read_text(encoding="utf8"))
    assert saved == record and "without the 40 sentences" in record["selection"]
    assert "(20 sentences" in record["selection"]
    figures = run_demo(output, n_print=2)
    out = capsys.readouterr().out
    assert f"threshold {record['threshold']:.2f}" in out
    assert out.count("    gold:          ") >= 2  # two sentences printed with their gold relations
    assert f"precision {figures['rel_p']:.2f}  recall {figures['rel_r']:.2f}  F1 {figures['rel_f']:.2f}" in out
    assert f"The pipeline stays in {output}" in out
    # an existing pipeline is never replaced without --overwrite
    with pytest.raises(FileExistsError, match="E112"):
        build_demo_pipeline(tiny_corpus, output, max_steps=4, eval_frequency=2)


def test_build_leaves_the_demo_sentences_out_of_training(tiny_corpus, tmp_path):
    # CoNLL04 train repeats some valid sentences: the demo must not score what was learned
    train = tiny_corpus / "conll04" / "train.CoNLL04.json"
    dev = json.loads(SAMPLE_DEV.read_text(encoding="utf8"))
    records = json.loads(train.read_text(encoding="utf8"))
    train.write_text(json.dumps(records + dev[:2]), encoding="utf8")
    work = tmp_path / "work"
    record = build_demo_pipeline(tiny_corpus, tmp_path / "out", max_steps=2, eval_frequency=1, work=work)
    assert f"({len(records)} sentences; 2 left out" in record["train"]
    trained_on = {doc.text for doc in DocBin().from_disk(work / "train_without_sample.spacy").get_docs(Vocab())}
    sample = {doc.text for doc in DocBin().from_disk(work / "dev.spacy").get_docs(Vocab())}
    assert len(sample) == 40 and not trained_on & sample


def test_build_needs_the_corpus(tmp_path):
    with pytest.raises(FileNotFoundError, match="E129"):
        build_demo_pipeline(tmp_path, tmp_path / "out")


def test_demo_without_its_pipeline(tmp_path):
    with pytest.raises(FileNotFoundError, match="E128"):
        run_demo(tmp_path / "missing")


def test_committed_demo_pipeline_runs(capsys):
    """What `make demo` prints on a fresh clone: the committed pipeline, its threshold
    and a P/R/F line (the figures themselves are in BENCHMARKS.md, not asserted)."""
    assert (DEMO_PIPELINE / BUILD_RECORD).exists(), "models/demo_conll04 is committed with its build record"
    run_demo()
    out = capsys.readouterr().out
    assert "All 40 sentences" in out and "precision" in out
