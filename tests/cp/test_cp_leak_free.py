"""Leak-free contrastive pre-training: the overlap check, the shuffled-label control, the
MLM-head warm-up and the frozen-encoder probe."""
import json
import random
from collections import Counter
from pathlib import Path

import pytest
import torch

from spacy_relext.cp.exclusion import LABEL, NAMES, SENTENCE, read_label_names
from spacy_relext.cp.pretrain import CPSettings, load_bags, pretrain_cp, shuffled_labels
from spacy_relext.cp.probe import probe_accuracy, probe_encoder
from spacy_relext.cp.sentence_pairs import read_pairs

from test_cp import SENTENCES, make_pair, write_docbin

# Fine-tuning/evaluation data: one sentence of SENTENCES, the names of another, and a relation
# ("capital of") that a human-labelled pre-training corpus also holds.
EVAL = [
    (["Rome", "is", "the", "capital", "of", "Italy", "."], (0, 1), (5, 6), "capital of"),
    (["Yesterday", "Kurt", "left", "Brno", "."], (1, 2), (3, 4), "residence"),  # Kurt/Brno: SENTENCES[6]
]
HUMAN = [  # a human-labelled corpus, Wikidata ids as labels (as Re-DocRED)
    (["Oslo", "is", "the", "capital", "of", "Norway", "."], (0, 1), (5, 6), "P1376"),
    (["Bern", "is", "the", "capital", "of", "Switzerland", "."], (0, 1), (5, 6), "P1376"),
    (["Nils", "plays", "for", "Molde", "."], (0, 1), (3, 4), "P54"),
    (["Lars", "plays", "for", "Brann", "."], (0, 1), (3, 4), "P54"),
]


@pytest.fixture()
def files(tmp_path):
    names = tmp_path / "rel_info.json"
    names.write_text(json.dumps({"P1376": "capital of", "P54": "member of sports team"}))
    return {
        "distant": write_docbin(tmp_path / "distant.spacy", SENTENCES),
        "human": write_docbin(tmp_path / "human.spacy", HUMAN),
        "eval": write_docbin(tmp_path / "eval.spacy", EVAL),
        "names": str(names),
    }


def test_overlap_check_drops_each_planted_instance_and_reports_why(files):
    settings = CPSettings(corpora=[files["distant"], files["human"]], exclude=[files["eval"]],
                          human_labelled=[files["human"]], label_names=files["names"], encoder="unused")
    bags, report = load_bags(settings)
    kept = {" ".join(p.words) for p in bags.pairs}
    assert "Rome is the capital of Italy ." not in kept  # the same sentence
    assert "Kurt was born in Brno ." not in kept  # the same names, another sentence
    assert "Paris is the capital of France ." in kept  # a distant label of an evaluation relation: kept
    assert not kept & {"Oslo is the capital of Norway .", "Bern is the capital of Switzerland ."}  # P1376 human
    assert {"Nils plays for Molde .", "Lars plays for Brann ."} <= kept  # a relation the evaluation lacks
    assert report.dropped == {files["distant"]: {SENTENCE: 1, NAMES: 1}, files["human"]: {LABEL: 2}}
    assert report.read == {files["distant"]: 9, files["human"]: 4}
    assert report.kept == {files["distant"]: 7, files["human"]: 2}
    text = "\n".join(report.lines())
    assert "dropped 2: human-labelled instance" in text and "Oslo is the capital" in text
    # without the label names, P1376 is not recognised as "capital of": nothing to drop for it
    settings.label_names = ""
    _, report = load_bags(settings)
    assert LABEL not in report.dropped.get(files["human"], {})


def test_cli_prints_the_overlap_check_before_training(files, tmp_path, capsys):
    from spacy_relext.__main__ import main

    with pytest.raises(SystemExit):  # stops at loading the encoder: the report came first
        main(["pretrain-cp", str(tmp_path / "out"), "--corpora", files["distant"], "--exclude", files["eval"],
              "--encoder", str(tmp_path / "no-encoder"), "--no-progress"])
    out = capsys.readouterr().out
    assert "Overlap check" in out and "dropped 1: sentence in an excluded file" in out


def test_label_names_read_both_formats_and_bad_files_are_coded(tmp_path):
    pid2name = tmp_path / "pid2name.json"
    pid2name.write_text(json.dumps({"P17": ["country", "sovereign state of this item"]}))
    assert read_label_names(pid2name) == {"P17": "country"}
    for text in ("[1, 2]", "{not json", json.dumps({"P17": 3})):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(ValueError, match="E806"):
            read_label_names(bad)
    with pytest.raises(ValueError, match="E804"):  # a human-labelled file that is not a corpus
        CPSettings(corpora=["a.spacy"], human_labelled=["b.spacy"]).check()


def test_shuffled_control_keeps_sentences_and_bag_sizes_but_not_the_relations():
    pairs = [make_pair(*s) for s in SENTENCES]
    pairs += [make_pair(w, h, t, "other") for w, h, t, _ in SENTENCES[:4]]
    shuffled = shuffled_labels(pairs, random.Random(0))
    assert [(p.words, p.head, p.tail) for p in shuffled] == [(p.words, p.head, p.tail) for p in pairs]
    assert Counter(p.label for p in shuffled) == Counter(p.label for p in pairs)
    assert [p.label for p in shuffled] != [p.label for p in pairs]


def test_shuffled_bags_differ_from_the_real_ones(files):
    real, _ = load_bags(CPSettings(corpora=[files["distant"]], encoder="unused"))
    control, _ = load_bags(CPSettings(corpora=[files["distant"]], encoder="unused", shuffle_labels=True))
    assert sorted(len(m) for m in real.bags.values()) == sorted(len(m) for m in control.bags.values())
    as_sets = lambda bags: {frozenset(" ".join(bags.pairs[i].words) for i in m) for m in bags.bags.values()}
    assert as_sets(real) != as_sets(control)


def test_mlm_warmup_trains_the_head_alone_then_joint_training_logs_both_losses(files, minilm_path, tmp_path):
    from spacy_relext.cp.pytorch_cp import load_mlm, mlm_head_parameters

    # joint training at learning rate 0: whatever moved, the warm-up moved
    settings = CPSettings(corpora=[files["distant"]], encoder=minilm_path, batch_pairs=4, max_steps=1,
                          max_length=24, warmup_steps=1, learning_rate=0.0, mlm_warmup_steps=2,
                          mlm_warmup_learning_rate=1e-2, mlm_weight=0.5)
    seen = []
    result = pretrain_cp(settings, tmp_path / "frozen",
                         progress=lambda step, total, losses: seen.append((step, total, set(losses))))
    assert seen == [(1, 2, {"mlm_warmup"}), (2, 2, {"mlm_warmup"}), (1, 1, {"cp", "mlm"})]
    assert result.mlm_warmup_steps == 2
    assert [(e["phase"], e["step"]) for e in result.loss_log] == [("mlm_warmup", 2), ("joint", 1)]
    assert {"cp", "mlm"} <= set(result.loss_log[1])
    info = json.loads((Path(result.model_dir) / "relext_cp.json").read_text())
    assert info["mlm_warmup_steps"] == 2 and info["loss_log"] == result.loss_log
    _, before = load_mlm(minilm_path)
    _, after = load_mlm(result.model_dir)
    assert any(not torch.equal(a, b) for a, b in zip(mlm_head_parameters(before), mlm_head_parameters(after)))
    for (name, a), b in zip(after.base_model.named_parameters(), before.base_model.parameters()):
        assert torch.equal(a, b), name  # the encoder, tied word embeddings included, stayed frozen
    # and joint training after the warm-up trains the encoder again
    settings.learning_rate, settings.mlm_warmup_steps = 1e-3, 1
    trained = pretrain_cp(settings, tmp_path / "joint")
    _, after = load_mlm(trained.model_dir)
    assert any(not torch.equal(a, b) for a, b in zip(after.base_model.parameters(), before.base_model.parameters()))


def test_probe_reads_relation_structure_and_not_noise():
    generator = torch.Generator().manual_seed(0)
    centers = torch.randn(4, 16, generator=generator) * 3
    labels = [f"r{i % 4}" for i in range(80)]
    x = centers[[i % 4 for i in range(80)]] + torch.randn(80, 16, generator=generator) * 0.5
    clustered = probe_accuracy(x[:40], labels[:40], x[40:], labels[40:])
    assert clustered["knn1"] == 1.0 and clustered["linear"] == 1.0 and clustered["dev"] == 40
    noise = torch.randn(80, 16, generator=generator)
    chance = probe_accuracy(noise[:40], labels[:40], noise[40:], labels[40:])
    assert chance["knn1"] < 0.6 and chance["linear"] < 0.6
    unseen = probe_accuracy(x[:40], labels[:40], x[40:42], ["r9", "r9"])
    assert unseen["knn1"] == 0.0 and unseen["linear"] == 0.0


def test_probe_encodes_marked_instances_with_the_frozen_encoder(files, minilm_path):
    pairs = read_pairs([files["distant"]])
    first = probe_encoder(minilm_path, pairs[:6], pairs[6:])
    assert set(first) == {"knn1", "linear", "dev"} and first["dev"] == len(pairs) - 6
    assert probe_encoder(minilm_path, pairs[:6], pairs[6:]) == first  # deterministic: nothing trained
