"""Tuning the relation_detector and span_extractor thresholds together
(`spacy_relext.rere.thresholds`, `python -m spacy_relext tune-thresholds`)."""

from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Corpus
from spacy.util import fix_random_seed, load_config, load_model_from_config

from rere_fixtures import TRAIN_DATA, make_examples, token_offsets
from test_cli_writes import run_cli
from spacy_relext.rere.thresholds import (
    apply_thresholds,
    best_pair,
    format_search,
    tune_saved_pipeline,
    tune_thresholds,
)

CONFIG = Path(__file__).parents[2] / "configs" / "rere_cpu.cfg"
GRID = (0.1, 0.3, 0.7, 0.9)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """rere_cpu.cfg after 30 updates on the four CoNLL04-style sentences (not yet exact
    at 0.5 / 0.5), saved with the detector threshold at 1.0 (so it detects nothing), and
    the sentences as held-out data."""
    fix_random_seed(0)
    nlp = load_model_from_config(load_config(CONFIG), auto_fill=True)
    examples = make_examples(nlp, token_offsets(nlp))
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(30):
        nlp.update(examples, sgd=optimizer)
    nlp.get_pipe("relation_detector").cfg["threshold"] = 1.0
    nlp.get_pipe_config("relation_detector")["threshold"] = 1.0
    root = tmp_path_factory.mktemp("tune")
    nlp.to_disk(root / "pipeline")
    DocBin(store_user_data=True, docs=[eg.reference for eg in examples]).to_disk(root / "dev.spacy")
    return root / "pipeline", root / "dev.spacy"


def load(saved):
    pipeline, data = saved
    nlp = spacy.load(pipeline)
    return nlp, list(Corpus(data)(nlp))


def set_thresholds(nlp, detector, extractor):
    nlp.get_pipe("relation_detector").cfg["threshold"] = detector
    nlp.get_pipe("span_extractor").cfg["threshold"] = extractor


def test_search_scores_match_evaluate(saved):
    """Each pair's score, computed from one pipeline pass, is what nlp.evaluate gives
    with those thresholds set."""
    nlp, examples = load(saved)
    search = tune_thresholds(nlp, examples, grid=GRID)
    assert (search.detector, search.extractor, search.current) == ("relation_detector", "span_extractor", (1.0, 0.5))
    assert len(search.scores) == 5 * 5  # the grid plus the current thresholds, for each stage
    assert search.current_score == 0.0 < search.best_score  # nothing detected at 1.0
    assert nlp.get_pipe("relation_detector").threshold == 1.0  # the search leaves the pipeline as it was
    for pair in [(0.1, 0.3), (0.3, 0.7), (0.9, 0.1), search.best]:
        set_thresholds(nlp, *pair)
        assert nlp.evaluate(examples)["triple_exact_f"] == pytest.approx(search.scores[pair])


def test_apply_thresholds_sets_cfg_and_config(saved):
    nlp, examples = load(saved)
    search = tune_thresholds(nlp, examples, grid=GRID, metric="triple_partial_f")
    apply_thresholds(nlp, search)
    for name, threshold in zip(("relation_detector", "span_extractor"), search.best):
        assert nlp.get_pipe(name).threshold == threshold
        assert nlp.config["components"][name]["threshold"] == threshold
    assert nlp.evaluate(examples)["triple_partial_f"] == pytest.approx(search.best_score)
    assert "best: relation_detector" in format_search(search)


def test_a_tie_keeps_the_nearest_to_the_current_thresholds():
    scores = {(0.1, 0.5): 0.8, (0.5, 0.5): 0.8, (0.4, 0.3): 0.8, (0.9, 0.9): 0.7}
    assert best_pair(scores, (0.5, 0.5)) == (0.5, 0.5)
    assert best_pair(scores, (0.4, 0.4)) == (0.4, 0.3)
    assert best_pair({**scores, (0.9, 0.9): 0.81}, (0.5, 0.5)) == (0.9, 0.9)
    assert best_pair({(None, 0.2): 0.5, (None, 0.6): 0.5}, (None, 0.5)) == (None, 0.6)


def test_extractor_querying_every_label_tunes_its_threshold_only():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("span_extractor", config={"query_all_labels": True})
    examples = make_examples(nlp, TRAIN_DATA)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(10):
        nlp.update(examples, sgd=optimizer)
    search = tune_thresholds(nlp, make_examples(nlp, TRAIN_DATA), grid=GRID)
    assert search.detector is None and set(search.scores) == {(None, t) for t in (*GRID, 0.5)}
    assert "extractor |" in format_search(search)


@pytest.mark.parametrize(
    "options,code",
    [
        ({"grid": ()}, "E213"),
        ({"grid": (0.5, 1.5)}, "E213"),
        ({"metric": "rel_f"}, "E212"),
        ({"extractor": "relation_detector"}, "E215"),
        ({"detector": "sentencizer"}, "E215"),
    ],
)
def test_invalid_options(saved, options, code):
    nlp, examples = load(saved)
    with pytest.raises(ValueError, match=code):
        tune_thresholds(nlp, examples, **options)


def test_no_gold_relations_and_no_extractor(saved):
    nlp, examples = load(saved)
    for eg in examples:
        eg.reference._.relations = []
    with pytest.raises(ValueError, match="E214"):
        tune_thresholds(nlp, examples)
    detector_only = spacy.blank("en")
    detector_only.add_pipe("relation_detector")
    with pytest.raises(ValueError, match="E211"):
        tune_thresholds(detector_only, load(saved)[1])


def file_bytes(directory):
    return {path.relative_to(directory): path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def test_cli_writes_a_tuned_copy_and_never_the_input_unless_asked(saved, tmp_path, capsys):
    pipeline, data = saved
    before = file_bytes(pipeline)
    options = ["--thresholds", "0.1,0.3,0.7", "--no-progress"]
    code, out, _ = run_cli(["tune-thresholds", pipeline, data, *options], capsys)
    assert code == 0 and "Nothing written" in out and file_bytes(pipeline) == before

    output = tmp_path / "tuned"
    code, out, _ = run_cli(["tune-thresholds", pipeline, data, "--output", output, *options], capsys)
    assert code == 0 and f"to {output}" in out and file_bytes(pipeline) == before
    tuned = spacy.load(output)
    best = (tuned.get_pipe("relation_detector").threshold, tuned.get_pipe("span_extractor").threshold)
    assert best[0] < 1.0 and f"best: relation_detector {best[0]:g}, span_extractor {best[1]:g}" in out
    assert load_config(output / "config.cfg")["components"]["relation_detector"]["threshold"] == best[0]

    code, _, err = run_cli(["tune-thresholds", pipeline, data, "--output", output, *options], capsys)
    assert code == 1 and "[E112]" in err
    code, _, err = run_cli(["tune-thresholds", pipeline, data, "--output", pipeline, *options], capsys)
    assert code == 1 and "[E112]" in err and file_bytes(pipeline) == before
    code, _, err = run_cli(["tune-thresholds", pipeline, tmp_path / "missing.spacy", *options], capsys)
    assert code == 1 and "[E201]" in err


def test_overwrite_updates_the_pipeline_in_place(saved, tmp_path):
    pipeline, data = saved
    copy = tmp_path / "pipeline"
    spacy.load(pipeline).to_disk(copy)
    search, written = tune_saved_pipeline(copy, data, overwrite=True, grid=GRID)
    assert written == copy
    assert spacy.load(copy).get_pipe("relation_detector").threshold == search.best[0] != 1.0

