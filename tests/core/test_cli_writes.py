"""Nothing a user owns is overwritten or silently lost by a command that writes:
`convert`, `split`, `visualize --output`, `pretrain-cp`, and the `model-best` a killed
`spacy train` leaves half-copied."""
import json
import os
import shutil
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example

from spacy_relext import Relation
from spacy_relext.cli import main
from spacy_relext.convert import convert, split_docbin
from spacy_relext.pipeline_dir import check_pipeline_dir
from spacy_relext.safe_write import atomic_output, check_outputs

SAMPLES = Path(__file__).parents[2] / "corpus" / "samples"
CONLL_DEV = SAMPLES / "conll04" / "dev.json"


def run_cli(args, capsys):
    """Run the CLI; returns (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def raw(tmp_path):
    """Two raw CoNLL04 files a user owns, and their bytes."""
    train, dev = tmp_path / "train.json", tmp_path / "dev.json"
    shutil.copy(CONLL_DEV, train)
    dev.write_text(json.dumps(json.loads(CONLL_DEV.read_text())[:5]))
    return train, dev, train.read_bytes(), dev.read_bytes()


def test_convert_refuses_to_write_over_its_input(raw, capsys):
    """Before: the raw corpus was replaced by a DocBin and the command exited 0."""
    train, _, train_bytes, _ = raw
    for overwrite in ([], ["--overwrite"]):
        code, _, err = run_cli(["convert", "conll04", train, train, "--no-progress", *overwrite], capsys)
        assert code == 1 and "[E110]" in err and str(train) in err
        assert train.read_bytes() == train_bytes


@pytest.mark.parametrize("link", ["symlink", "hardlink", "dotted"])
def test_convert_sees_the_input_through_another_name(raw, tmp_path, link):
    train, _, train_bytes, _ = raw
    other = tmp_path / "other.json"
    if link == "symlink":
        other.symlink_to(train)
    elif link == "hardlink":
        os.link(train, other)
    else:
        other = tmp_path / "sub" / ".." / "train.json"
        (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match=r"\[E110\]"):
        convert("conll04", train, other, show_progress=False)
    assert train.read_bytes() == train_bytes


def test_convert_typo_does_not_destroy_another_file(raw, capsys):
    """`convert conll04 train.json dev.json`: before, dev.json was replaced by a DocBin."""
    train, dev, _, dev_bytes = raw
    code, _, err = run_cli(["convert", "conll04", train, dev, "--no-progress"], capsys)
    assert code == 1 and "[E112]" in err and "--overwrite" in err and str(dev) in err
    assert dev.read_bytes() == dev_bytes


def test_convert_overwrite_replaces_an_earlier_output(raw, tmp_path, capsys):
    train, dev, _, _ = raw
    out = tmp_path / "out.spacy"
    convert("conll04", dev, out, show_progress=False)
    assert len(DocBin().from_disk(out)) == 5
    with pytest.raises(FileExistsError, match=r"\[E112\]"):
        convert("conll04", train, out, show_progress=False)
    assert len(DocBin().from_disk(out)) == 5
    code, _, _ = run_cli(["convert", "conll04", train, out, "--no-progress", "--overwrite"], capsys)
    assert code == 0 and len(DocBin().from_disk(out)) == 40


def test_convert_refuses_a_directory_as_output(raw, tmp_path):
    (tmp_path / "out.spacy").mkdir()
    with pytest.raises(ValueError, match=r"\[E113\].*is a directory, but a file"):
        convert("conll04", raw[1], tmp_path / "out.spacy", overwrite=True, show_progress=False)


DWIE_DOC = {"id": "DW_1", "content": "Jo lives in Oslo.", "tags": ["train"], "concepts": [{"concept": 0, "tags": []}],
            "mentions": [{"begin": 12, "end": 16, "text": "Oslo", "concept": 0}], "relations": []}


@pytest.mark.parametrize("output", ["DW_2.json", "."])
def test_dwie_output_may_not_replace_a_document_or_the_directory(tmp_path, output):
    for name in ("DW_1.json", "DW_2.json"):
        (tmp_path / name).write_text(json.dumps(DWIE_DOC))
    with pytest.raises(ValueError, match=r"\[E110\]"):
        convert("dwie", tmp_path, tmp_path / output, show_progress=False)
    assert json.loads((tmp_path / "DW_2.json").read_text()) == DWIE_DOC
    convert("dwie", tmp_path, tmp_path / "all.spacy", show_progress=False)  # inside the directory is fine


def test_fewrel_output_may_not_replace_pid2name(tmp_path):
    shutil.copy(SAMPLES / "fewrel" / "val_wiki.json", tmp_path)
    names = tmp_path / "pid2name.json"
    shutil.copy(SAMPLES / "fewrel" / "pid2name.json", names)
    before = names.read_bytes()
    with pytest.raises(ValueError, match=r"\[E110\].*pid2name.json"):
        convert("fewrel", tmp_path / "val_wiki.json", names, show_progress=False)
    assert names.read_bytes() == before


@pytest.fixture
def converted(tmp_path):
    path = tmp_path / "all.spacy"
    convert("conll04", CONLL_DEV, path, show_progress=False)
    return path


def test_split_refuses_two_outputs_on_one_path(converted, tmp_path, capsys):
    """Before: 'Wrote 36 docs to t.spacy and 4 docs to t.spacy', and t.spacy held the 4."""
    out = tmp_path / "t.spacy"
    code, _, err = run_cli(["split", converted, out, tmp_path / "x" / ".." / "t.spacy"], capsys)
    assert code == 1 and "[E111]" in err and not out.exists()


def test_split_refuses_to_write_over_its_input(converted, tmp_path, capsys):
    """Before: `split all.spacy all.spacy dev.spacy` replaced all.spacy by its train part."""
    before = converted.read_bytes()
    for overwrite in ([], ["--overwrite"]):
        code, _, err = run_cli(["split", converted, converted, tmp_path / "dev.spacy", *overwrite], capsys)
        assert code == 1 and "[E110]" in err and converted.read_bytes() == before


def test_split_existing_outputs_need_overwrite(converted, tmp_path, capsys):
    train, dev = tmp_path / "train.spacy", tmp_path / "dev.spacy"
    assert split_docbin(converted, train, dev) == (36, 4)
    code, _, err = run_cli(["split", converted, train, dev, "--dev-fraction", "0.5"], capsys)
    assert code == 1 and "[E112]" in err and len(DocBin().from_disk(dev)) == 4
    code, out, _ = run_cli(["split", converted, train, dev, "--dev-fraction", "0.5", "--overwrite"], capsys)
    assert code == 0 and "20 docs" in out and len(DocBin().from_disk(dev)) == 20


def test_interrupted_write_keeps_the_old_output(raw, tmp_path, monkeypatch):
    """Before: DocBin.to_disk opened (and emptied) the output before serialising, so an
    error or Ctrl-C while writing left an empty file where the old output was."""
    out = tmp_path / "out.spacy"
    convert("conll04", raw[1], out, show_progress=False)
    before = out.read_bytes()

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(DocBin, "to_bytes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert("conll04", raw[0], out, overwrite=True, show_progress=False)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.json", "out.spacy", "train.json"]


def test_a_killed_run_leaves_no_temporary_behind(raw, tmp_path):
    stale = tmp_path / ".out.spacy.relext-tmp-999999999-0123abcd"  # no such process
    stale.write_bytes(b"half a DocBin")
    convert("conll04", raw[1], tmp_path / "out.spacy", show_progress=False)
    assert not stale.exists() and len(DocBin().from_disk(tmp_path / "out.spacy")) == 5


def test_atomic_output_replaces_a_directory_whole(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.bin").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.mkdir()
            (tmp / "new.bin").write_text("half")
            raise RuntimeError("killed")
    assert [p.name for p in tmp_path.iterdir()] == ["model"] and (target / "old.bin").read_text() == "old"
    with atomic_output(target) as tmp:
        tmp.mkdir()
        (tmp / "new.bin").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.bin"] and [p.name for p in tmp_path.iterdir()] == ["model"]


def test_check_outputs_refuses_a_directory_output_holding_an_input(tmp_path):
    (tmp_path / "run" / "model").mkdir(parents=True)
    corpus = tmp_path / "run" / "model" / "train.spacy"
    corpus.write_bytes(b"")
    with pytest.raises(ValueError, match=r"\[E110\]"):
        check_outputs([tmp_path / "run" / "model"], [corpus], overwrite=True, is_dir=True)
    check_outputs([tmp_path / "run" / "model2"], [corpus], is_dir=True)


# --- visualize --output ---


@pytest.fixture
def pipeline(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "pipeline")
    return tmp_path / "pipeline"


def test_visualize_existing_output_needs_overwrite(pipeline, tmp_path, capsys):
    """Before: an existing page (default relations.html) was replaced without a word."""
    page = tmp_path / "page.html"
    page.write_text("my notes")
    code, _, err = run_cli(["visualize", pipeline, "Jo lives in Oslo.", "--output", page], capsys)
    assert code == 1 and "[E112]" in err and page.read_text() == "my notes"
    code, out, _ = run_cli(["visualize", pipeline, "Jo lives in Oslo.", "--output", page, "--overwrite"], capsys)
    assert code == 0 and "<!DOCTYPE html>" in page.read_text()


def test_visualize_output_may_not_replace_a_pipeline_file(pipeline, capsys):
    config = pipeline / "config.cfg"
    before = config.read_bytes()
    for overwrite in ([], ["--overwrite"]):
        code, _, err = run_cli(["visualize", pipeline, "Jo.", "--output", config, *overwrite], capsys)
        assert code == 1 and "[E110]" in err and config.read_bytes() == before


# --- pretrain-cp OUTPUT ---


def test_pretrain_cp_refuses_an_earlier_runs_outputs_before_training(tmp_path, capsys):
    """Before: a new run replaced an earlier run's checkpoint at its first save, and its
    model at the end."""
    corpus = tmp_path / "corpus.spacy"
    DocBin().to_disk(corpus)
    (tmp_path / "run" / "checkpoint").mkdir(parents=True)
    args = ["pretrain-cp", tmp_path / "run", "--corpora", corpus, "--no-progress"]
    code, _, err = run_cli(args, capsys)
    assert code == 1 and "[E117]" in err and "--resume" in err
    shutil.rmtree(tmp_path / "run" / "checkpoint")
    (tmp_path / "run" / "model").mkdir()
    code, _, err = run_cli(args, capsys)
    assert code == 1 and "[E112]" in err
    shutil.rmtree(tmp_path / "run" / "model")
    (tmp_path / "run" / "model").mkdir()
    moved = tmp_path / "run" / "model" / "corpus.spacy"
    corpus.rename(moved)
    code, _, err = run_cli(["pretrain-cp", tmp_path / "run", "--corpora", moved, "--overwrite"], capsys)
    assert code == 1 and "[E110]" in err and moved.exists()


# --- a model-best that a killed `spacy train` left half-copied ---


def make_doc(nlp):
    doc = Doc(nlp.vocab, words=["Ada", "lives", "in", "London", "."])
    doc.ents = [Span(doc, 0, 1, "PER"), Span(doc, 3, 4, "LOC")]
    return doc


@pytest.fixture
def training_output(tmp_path):
    """What `spacy train` writes: model-last, and model-best copied from it."""
    nlp = spacy.blank("en")
    nlp.add_pipe("relation_detector")
    ref = make_doc(nlp)
    ref._.relations = [Relation(head=ref.ents[0], tail=ref.ents[1], label="Live_In")]
    nlp.initialize(lambda: [Example(make_doc(nlp), ref)])
    nlp.to_disk(tmp_path / "model-last")
    shutil.copytree(tmp_path / "model-last", tmp_path / "model-best")
    nlp.meta["performance"] = {"rel_f": 0.5}  # a later, different save: still the same files
    nlp.to_disk(tmp_path / "model-last")
    return tmp_path


def test_complete_training_output_loads(training_output):
    for name in ("model-best", "model-last"):
        check_pipeline_dir(training_output / name)
        assert spacy.load(training_output / name).pipe_names == ["relation_detector"]


@pytest.mark.parametrize("lost", ["relation_detector/model", "relation_detector", "vocab"])
def test_half_copied_model_best_names_model_last(training_output, lost):
    """Before: spacy.load failed with E408 (or, without vocab/, loaded without its strings
    and vectors) and did not say that model-last is the complete copy."""
    best = training_output / "model-best"
    target = best / lost
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(ValueError, match=r"\[E114\].*model-best is incomplete \(.*" + lost.split("/")[0]) as err:
        spacy.load(best)
    assert f"{training_output / 'model-last'} is a complete save" in str(err.value)


class Killed(BaseException):
    """kill -9 in the middle of shutil.copytree."""


def test_copy_killed_midway_is_reported_by_the_cli(training_output, capsys):
    best, last = training_output / "model-best", training_output / "model-last"
    shutil.rmtree(best)
    copied = []

    def copy_until_killed(src, dst):
        if len(copied) == 3:
            raise Killed
        copied.append(shutil.copy2(src, dst))

    with pytest.raises(Killed):
        shutil.copytree(last, best, copy_function=copy_until_killed)
    code, _, err = run_cli(["visualize", best, "Ada lives in London.", "--output", training_output / "p.html"], capsys)
    assert code == 1 and "[E114]" in err and f"cp -r {last} {best}" in err
    shutil.rmtree(best)  # killed after the deletion, before the copy
    code, _, err = run_cli(["visualize", best, "Ada lives in London.", "--output", training_output / "p.html"], capsys)
    assert code == 1 and "[E114]" in err and "the whole directory missing" in err


def test_model_best_complete_while_model_last_is_not(training_output):
    """model-last killed while it was first written: model-best is not affected."""
    shutil.rmtree(training_output / "model-last" / "vocab")
    assert spacy.load(training_output / "model-best").pipe_names == ["relation_detector"]
    with pytest.raises(ValueError, match=r"\[E114\].*model-last is incomplete.*model-best is a complete save"):
        check_pipeline_dir(training_output / "model-last")


def test_files_a_user_adds_to_model_last_are_not_missing_files(training_output):
    (training_output / "model-last" / "README.md").write_text("notes")
    (training_output / "model-last" / "metrics").mkdir()
    (training_output / "model-last" / "metrics" / "dev.json").write_text("{}")
    check_pipeline_dir(training_output / "model-best")


def test_project_commands_that_rewrite_their_outputs_pass_overwrite():
    """`spacy project run` reruns a command whose outputs exist (when its deps changed)."""
    import srsly

    project = srsly.read_yaml(Path(__file__).parents[2] / "project.yml")
    scripts = [line for cmd in project["commands"] for line in cmd["script"]]
    writes = [line for line in scripts if line.startswith(("python -m spacy_relext convert",
                                                           "python -m spacy_relext split"))]
    assert len(writes) == 23 and all("--overwrite" in line for line in writes)
