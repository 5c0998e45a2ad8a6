"""`annotate --engine ray` on a local two-CPU Ray cluster started by the tests: the same
output as a plain nlp.pipe loop, and every document exactly once when a worker is
killed in the middle of the job."""
import os
import signal
from collections import Counter

import pytest

from annotate_check import assert_same_relations, document_ids, loop_relations, output_relations
from annotate_data import records, write_jsonl
from spacy_relext.annotate import annotate

# Ray's start and one pipeline load per actor take tens of seconds on two busy cores.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("torch_single_thread")]


def test_ray_engine_writes_what_a_plain_loop_finds(tmp_path, pipeline_dir, nlp, ray_cluster):
    rows = records(200)
    corpus = write_jsonl(tmp_path / "c.jsonl", rows + [{"id": "empty", "text": ""}])
    summary = annotate(str(pipeline_dir), corpus, tmp_path / "out", engine="ray", workers=2, partition_size=25)
    assert ray_cluster.is_initialized()  # the engine used the running cluster, and left it to its owner
    assert sorted(s.name for s in summary.annotated) == [f"c.jsonl-{start:09d}" for start in range(0, 201, 25)]
    assert Counter(document_ids(tmp_path / "out")) == Counter(row["id"] for row in rows)
    assert_same_relations(output_relations(tmp_path / "out"), loop_relations(nlp, ((r["id"], r["text"]) for r in rows)))
    assert (summary.check.documents, summary.check.errors) == (200, 1) and summary.check.exactly_once
    rerun = annotate(str(pipeline_dir), corpus, tmp_path / "out", engine="ray", workers=2, partition_size=25)
    assert (rerun.skipped, rerun.annotated) == (9, [])


def test_a_worker_killed_mid_job_loses_and_repeats_nothing(tmp_path, pipeline_dir, nlp, ray_cluster):
    rows = records(300)
    corpus = write_jsonl(tmp_path / "c.jsonl", rows)
    finished, killed = [], []

    def kill_the_first_worker(summary):
        finished.append(summary.name)
        if not killed:
            pid = int(summary.worker.rsplit(":", 1)[1])
            os.kill(pid, signal.SIGKILL)  # the actor dies with whatever partitions it holds
            killed.append((pid, len(finished)))

    summary = annotate(str(pipeline_dir), corpus, tmp_path / "out", engine="ray", workers=2, partition_size=20,
                       on_partition=kill_the_first_worker)
    (pid, finished_at_kill), = killed
    assert finished_at_kill < 15 < len(finished) + 1, "the kill was not in the middle of the job"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # it really died
    assert sorted(set(finished)) == [f"c.jsonl-{start:09d}" for start in range(0, 300, 20)]
    assert Counter(document_ids(tmp_path / "out")) == Counter(row["id"] for row in rows)
    assert summary.check.exactly_once and summary.check.documents == 300
    assert_same_relations(output_relations(tmp_path / "out"), loop_relations(nlp, ((r["id"], r["text"]) for r in rows)))
