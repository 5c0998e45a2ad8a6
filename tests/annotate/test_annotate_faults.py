"""`annotate` when things go wrong: bad records, a component that raises, an interrupted or
killed run resumed, and outputs that would overwrite a user's files."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import spacy
from spacy.language import Language

from annotate_check import assert_same_relations, document_ids, loop_relations, output_relations, read_table
from annotate_data import records, write_jsonl
from spacy_relext.annotate import annotate

pytestmark = pytest.mark.usefixtures("torch_single_thread")
ROOT = Path(__file__).resolve().parents[2]


def error_reasons(output: Path) -> dict:
    rows = [json.loads(line) for part in sorted((output / "errors").glob("*.jsonl"))
            for line in part.read_text(encoding="utf8").splitlines()]
    return {row["record"]: (row["doc_id"], row["reason"], row["detail"]) for row in rows}


def test_bad_jsonl_records_are_written_with_their_reason(tmp_path, pipeline_dir):
    good = records(4)
    lines = [json.dumps(good[0]),
             json.dumps({"id": "empty", "text": ""}),
             json.dumps({"id": "blank", "text": " \n\t"}),
             json.dumps({"id": "number", "text": 42}),
             json.dumps({"id": "null", "text": None}),
             json.dumps({"id": "no-text", "body": "Alice works for Acme ."}),
             json.dumps({"id": {"nested": 1}, "text": "Alice works for Acme ."}),
             json.dumps(["Alice works for Acme ."]),
             '{"id": "cut", "text": "Alice works',
             json.dumps(good[1]),
             json.dumps({"id": "long", "text": "Bob lives in Rome . " * 10}),
             "",  # a blank line is no record
             json.dumps(good[2])]
    corpus = tmp_path / "c.jsonl"
    corpus.write_bytes("\n".join(lines).encode("utf8") + b"\n" + b'{"id": "latin1", "text": "Caf\xe9"}\n'
                      + json.dumps(good[3]).encode("utf8") + b"\n")
    summary = annotate(str(pipeline_dir), corpus, tmp_path / "out", max_chars=150, partition_size=5)
    reasons = error_reasons(tmp_path / "out")
    assert {record: reason for record, (_, reason, _) in reasons.items()} == {
        "c.jsonl:2": "empty_text", "c.jsonl:3": "empty_text", "c.jsonl:4": "wrong_type", "c.jsonl:5": "wrong_type",
        "c.jsonl:6": "malformed_record", "c.jsonl:7": "wrong_type", "c.jsonl:8": "wrong_type",
        "c.jsonl:9": "malformed_record", "c.jsonl:11": "too_long", "c.jsonl:14": "invalid_utf8",
    }
    assert reasons["c.jsonl:4"] == ("number", "wrong_type", "the text is int, not a string")
    assert reasons["c.jsonl:6"][2] == "no field 'text'"
    assert reasons["c.jsonl:7"] == ("c.jsonl:7", "wrong_type", "the id is dict, not a string or an integer")
    assert reasons["c.jsonl:11"][2] == "200 characters, more than --max-chars 150"
    assert sorted(document_ids(tmp_path / "out")) == sorted(row["id"] for row in good)
    assert (summary.check.documents, summary.check.errors) == (4, 10) and summary.check.exactly_once


def test_bad_text_files_and_parquet_rows(tmp_path, pipeline_dir):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text("Alice works for Acme in Paris .", encoding="utf8")
    (folder / "b.txt").write_bytes(b"Bob works\nfor \xff Initech .")
    (folder / "c.txt").write_text("", encoding="utf8")
    annotate(str(pipeline_dir), folder, tmp_path / "out_txt")
    assert error_reasons(tmp_path / "out_txt") == {
        "b.txt": ("b.txt", "invalid_utf8", "byte 14 (line 2) cannot be decoded"),
        "c.txt": ("c.txt", "empty_text", "the text is empty"),
    }
    assert document_ids(tmp_path / "out_txt") == ["a.txt"]
    table = pa.table({"id": ["p0", "p1", "p2"], "text": ["Alice works for Acme .", None, "  "]})
    pq.write_table(table, tmp_path / "rows.parquet")
    annotate(str(pipeline_dir), tmp_path / "rows.parquet", tmp_path / "out_pq")
    assert error_reasons(tmp_path / "out_pq") == {
        "rows.parquet:1": ("p1", "wrong_type", "the text is null, not a string"),
        "rows.parquet:2": ("p2", "empty_text", "the text is only whitespace"),
    }


@Language.component("fails_on_boom")
def fails_on_boom(doc):
    if "BOOM" in doc.text:
        raise ValueError("cannot annotate a BOOM")
    return doc


@pytest.mark.parametrize("n_process,reason", [
    (1, "the pipeline raised ValueError: cannot annotate a BOOM"),
    (2, "a component raised an error on its batch in an nlp.pipe worker process (the error is in the log)"),
])
def test_a_component_error_makes_a_bad_record_not_a_failed_job(tmp_path, pipeline_dir, n_process, reason):
    nlp = spacy.load(pipeline_dir)
    nlp.add_pipe("fails_on_boom", first=True)
    nlp.to_disk(tmp_path / "fragile")
    rows = records(6)
    rows[2]["text"] = "BOOM said Alice at Acme ."
    # batches of 2 in one process: the failing batch is run again document by document
    summary = annotate(str(tmp_path / "fragile"), write_jsonl(tmp_path / "c.jsonl", rows), tmp_path / "out",
                       batch_size=2 if n_process == 1 else 1, n_process=n_process)
    assert error_reasons(tmp_path / "out") == {"c.jsonl:3": ("doc-2", "pipeline_error", reason)}
    assert sorted(document_ids(tmp_path / "out")) == sorted(r["id"] for r in rows if r["id"] != "doc-2")
    assert summary.check.exactly_once


def dead_pid() -> int:
    """The id of a process that has ended (what a killed run leaves in temporary names)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_resume_after_an_interrupted_run(tmp_path, pipeline_dir, nlp):
    rows = records(120)
    corpus = write_jsonl(tmp_path / "c.jsonl", rows)
    out = tmp_path / "out"
    done = []

    def interrupt_after_two(summary):
        done.append(summary.name)
        if len(done) == 2:
            raise KeyboardInterrupt  # Ctrl-C after two partitions were written

    with pytest.raises(KeyboardInterrupt):
        annotate(str(pipeline_dir), corpus, out, partition_size=20, on_partition=interrupt_after_two)
    finished = sorted((out / "documents").glob("*.parquet"))
    assert [p.stem for p in finished] == done == ["c.jsonl-000000000", "c.jsonl-000000020"]
    # A run killed while it wrote the third partition: its relations part (here a wrong
    # one), a temporary documents part, and no documents part.
    third = "c.jsonl-000000040"
    pq.write_table(pq.read_table(out / "relations" / f"{done[0]}.parquet"), out / "relations" / f"{third}.parquet")
    stale = out / "documents" / f".{third}.parquet.relext-tmp-{dead_pid()}-0badc0de"
    stale.write_bytes(b"half a parquet file")
    stamps = {p: p.stat().st_mtime_ns for p in finished}

    summary = annotate(str(pipeline_dir), corpus, out, partition_size=20)
    assert (summary.skipped, len(summary.annotated), summary.partitions) == (2, 4, 6)
    assert {p: p.stat().st_mtime_ns for p in finished} == stamps  # the finished partitions were not redone
    assert not stale.exists()
    assert Counter(document_ids(out)) == Counter(row["id"] for row in rows)
    assert_same_relations(output_relations(out), loop_relations(nlp, ((r["id"], r["text"]) for r in rows)))
    assert summary.check.exactly_once and summary.check.documents == 120


def test_resume_after_the_process_was_killed(tmp_path, pipeline_dir, nlp):
    rows = records(2000)
    corpus = write_jsonl(tmp_path / "c.jsonl", rows)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "spacy_relext", "annotate", str(pipeline_dir), str(corpus), str(out),
               "--partition-size", "50", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list((out / "documents").glob("*.parquet")) and proc.poll() is None:
            assert time.monotonic() < deadline, "no partition written in 2 minutes"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    n_finished = len(list((out / "documents").glob("*.parquet")))
    assert 1 <= n_finished < 40
    summary = annotate(str(pipeline_dir), corpus, out, partition_size=50)
    assert summary.skipped == n_finished and len(summary.annotated) == 40 - n_finished
    assert Counter(document_ids(out)) == Counter(row["id"] for row in rows)
    assert summary.check.exactly_once
    assert_same_relations(output_relations(out), loop_relations(nlp, ((r["id"], r["text"]) for r in rows)))


def test_never_writes_over_a_users_files(tmp_path, pipeline_dir):
    folder = tmp_path / "corpus"
    folder.mkdir()
    corpus = write_jsonl(folder / "c.jsonl", records(5))

    def run(output, input_path=folder, **options):
        return annotate(str(pipeline_dir), input_path, output, **options)

    with pytest.raises(ValueError, match=r"\[E136\] Output .* is, or lies inside, the input"):
        run(folder)
    with pytest.raises(ValueError, match=r"\[E136\]"):
        run(folder / "annotated")
    with pytest.raises(ValueError, match=r"\[E110\]"):
        run(tmp_path, input_path=corpus)
    users = tmp_path / "users"
    users.mkdir()
    (users / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"\[E137\] Output .* is a non-empty folder that is not the output"):
        run(users)
    assert [p.name for p in users.iterdir()] == ["notes.txt"] and (users / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("mine")
    with pytest.raises(ValueError, match=r"\[E113\]"):
        run(tmp_path / "file")
    assert (tmp_path / "file").read_text() == "mine"
    assert not (folder / "annotated").exists()

    run(tmp_path / "out")
    with pytest.raises(ValueError, match=r"\[E138\] .*\(docbins: False then, True now\)"):
        run(tmp_path / "out", docbins=True)
    with corpus.open("a") as f:
        f.write(json.dumps({"id": "late", "text": "Erik lives in Oslo ."}) + "\n")
    with pytest.raises(ValueError, match=r"\[E138\] .*\(fingerprint: '[0-9a-f]+' then, '[0-9a-f]+' now\)"):
        run(tmp_path / "out")
    assert len(read_table(tmp_path / "out", "documents")) == 5


def test_a_pipeline_changed_in_place_does_not_resume_the_old_output(tmp_path, pipeline_dir):
    shutil.copytree(pipeline_dir, tmp_path / "pipeline")
    corpus = write_jsonl(tmp_path / "c.jsonl", records(3))
    annotate(str(tmp_path / "pipeline"), corpus, tmp_path / "out")
    meta = json.loads((tmp_path / "pipeline" / "meta.json").read_text())
    (tmp_path / "pipeline" / "meta.json").write_text(json.dumps({**meta, "version": "0.0.2"}))  # saved again
    with pytest.raises(ValueError, match=r"\[E138\] .*\(pipeline_version: '[0-9a-f]+' then, '[0-9a-f]+' now\)"):
        annotate(str(tmp_path / "pipeline"), corpus, tmp_path / "out")


def test_ray_engine_refuses_a_pipeline_no_worker_could_load(tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", records(2))
    with pytest.raises(OSError, match=r"\[E148\] Cannot find the pipeline no_such_pipeline"):
        annotate("no_such_pipeline", corpus, tmp_path / "out", engine="ray")
    assert not (tmp_path / "out").exists()
