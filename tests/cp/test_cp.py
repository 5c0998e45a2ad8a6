"""Contrastive pre-training: blanking, bags, NT-Xent, MLM masking, a tiny run, resume."""
import math
import random
from pathlib import Path

import pytest
import spacy
import torch
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example

from spacy_relext.cp.pretrain import CPSettings, load_settings, pretrain_cp
from spacy_relext.cp.pytorch_cp import IGNORE_INDEX, collate, load_mlm, mlm_mask, nt_xent
from spacy_relext.cp.sampling import build_bags, epoch_blanks, sample_blanks, sample_pairs
from spacy_relext.cp.sentence_pairs import SentencePair, doc_pairs, read_pairs
from spacy_relext.entity_markers import encode_pair, mark_pair, marker_ids
from spacy_relext.relations import Relation, install_extensions

CONFIG_DIR = Path(__file__).parents[2] / "configs"
# fmt: off
SENTENCES = [
    (["Paris", "is", "the", "capital", "of", "France", "."], (0, 1), (5, 6), "capital of"),
    (["Rome", "is", "the", "capital", "of", "Italy", "."], (0, 1), (5, 6), "capital of"),
    (["Berlin", ",", "capital", "of", "Germany", "."], (0, 1), (4, 5), "capital of"),
    (["Madrid", "is", "Spain", "'s", "capital", "."], (0, 1), (2, 3), "capital of"),
    (["Ada", "was", "born", "in", "London", "."], (0, 1), (4, 5), "place of birth"),
    (["Alan", "was", "born", "in", "Maida", "Vale", "."], (0, 1), (4, 6), "place of birth"),
    (["Kurt", "was", "born", "in", "Brno", "."], (0, 1), (4, 5), "place of birth"),
    (["Emmy", "came", "from", "Erlangen", "."], (0, 1), (3, 4), "place of birth"),
    (["Acme", "hired", "Bob", "."], (0, 1), (2, 3), "employer"),  # a bag of 1: dropped
]
# fmt: on


def make_pair(words, head, tail, label):
    return SentencePair(tuple(words), head, tail, "", "", label)


def write_docbin(path, sentences):
    install_extensions()
    nlp = spacy.blank("en")
    db = DocBin(store_user_data=True)
    for words, head, tail, label in sentences:
        doc = Doc(nlp.vocab, words=words)
        h, t = Span(doc, *head, label="ENT"), Span(doc, *tail, label="ENT")
        doc.ents = sorted([h, t], key=lambda s: s.start)
        doc.spans["entities"] = list(doc.ents)  # as the converters write them
        doc._.relations = [Relation(head=h, tail=t, label=label)]
        db.add(doc)
    db.to_disk(path)
    return str(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_docbin(tmp_path_factory.mktemp("cp") / "train.spacy", SENTENCES)


def test_blanking_statistics():
    blanks = sample_blanks(20000, 0.7, random.Random(0))
    heads = sum(h for h, _ in blanks) / len(blanks)
    tails = sum(t for _, t in blanks) / len(blanks)
    both = sum(h and t for h, t in blanks) / len(blanks)
    assert abs(heads - 0.7) < 0.015 and abs(tails - 0.7) < 0.015
    assert abs(both - 0.49) < 0.015  # independent draws
    assert epoch_blanks(500, 0.7, 0, 0, static=False) != epoch_blanks(500, 0.7, 0, 1, static=False)
    assert epoch_blanks(500, 0.7, 0, 0, static=True) == epoch_blanks(500, 0.7, 0, 1, static=True)
    assert sample_blanks(100, 0.0, random.Random(0)) == [(False, False)] * 100


def test_bags_drop_singletons_and_duplicates():
    pairs = [make_pair(*s) for s in SENTENCES]
    bags = build_bags(pairs + pairs[:2])
    assert bags.labels == ["capital of", "place of birth"]
    assert [len(bags.bags[label]) for label in bags.labels] == [4, 4]
    assert len(bags.pairs) == 8


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pair_sampling(seed):
    odd = [make_pair(["x", str(i), "y"], (0, 1), (2, 3), "odd") for i in range(3)]
    pairs = [make_pair(*s) for s in SENTENCES] + odd
    bags = build_bags(pairs)
    samples = sample_pairs(bags, random.Random(seed))
    assert len(samples) == 2 + 2 + 1  # floor(n / 2) per bag: proportional to bag size
    used = [i for s in samples for i in (s.first, s.second)]
    assert len(used) == len(set(used))  # no self pair, each sentence once per epoch
    for s in samples:
        label = bags.labels[s.label_id]
        assert bags.pairs[s.first].label == bags.pairs[s.second].label == label


def test_nt_xent_hand_computed():
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    # cos(x0, x1) = cos(x1, x2) = 1/sqrt(2), cos(x0, x2) = 0; temperature 0.5 -> s = sqrt(2) or 0.
    # anchor 0, positive 1: -log(e^s01 / (e^s01 + e^s02)) = log(1 + e^-sqrt(2))
    # anchor 1, positive 0: -log(e^s10 / (e^s10 + e^s12)) = log(2)
    expected = (math.log(1 + math.exp(-math.sqrt(2))) + math.log(2)) / 2
    assert float(nt_xent(x, labels, temperature=0.5)) == pytest.approx(expected, rel=1e-5)
    assert float(nt_xent(x, torch.tensor([0, 1, 2]))) == 0.0  # no positive pair


def test_nt_xent_prefers_aligned_positives():
    labels = torch.tensor([0, 0, 1, 1])
    aligned = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    crossed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9]])
    assert float(nt_xent(aligned, labels)) < 0.01 < float(nt_xent(crossed, labels))


def test_mlm_never_masks_markers(minilm_tokenizer):
    ids = marker_ids(minilm_tokenizer)
    encoded = [
        encode_pair(minilm_tokenizer, ids, mark_pair(words, h, t, blank_head=i % 2 == 0), 32)
        for i, (words, h, t, _) in enumerate(SENTENCES)
    ]
    never = set(ids) | set(minilm_tokenizer.all_special_ids)
    input_ids, attention, positions, maskable = collate(encoded, minilm_tokenizer.pad_token_id, never)
    corrupted, targets = mlm_mask(
        input_ids, maskable, mask_token_id=minilm_tokenizer.mask_token_id, vocab_size=len(minilm_tokenizer),
        probability=1.0, generator=torch.Generator().manual_seed(0),
    )
    protected = torch.isin(input_ids, torch.tensor(sorted(never)))
    assert protected.sum() > 5 * len(encoded)
    assert torch.equal(corrupted[protected], input_ids[protected])
    assert (targets[protected] == IGNORE_INDEX).all()
    assert (targets[maskable] == input_ids[maskable]).all()  # probability 1: every other token predicted
    rows = torch.arange(len(encoded))
    assert (input_ids[rows, positions[:, 0]] == ids.head_start).all()
    big = torch.randint(1000, 2000, (200, 100))
    _, targets = mlm_mask(big, torch.ones_like(big, dtype=torch.bool), mask_token_id=103, vocab_size=3000,
                          generator=torch.Generator().manual_seed(1))
    assert abs((targets != IGNORE_INDEX).float().mean().item() - 0.15) < 0.01


def test_read_pairs(corpus):
    pairs = read_pairs([corpus])
    assert len(pairs) == len(SENTENCES)
    assert pairs[5].words[pairs[5].tail[0]:pairs[5].tail[1]] == ("Maida", "Vale")


def test_document_level_relations_give_every_same_sentence_mention_pair():
    """DWIE / DocRED: the relation is stored on one mention of each entity, in different
    sentences; the pre-training instances are the mention pairs that share a sentence."""
    install_extensions()
    nlp = spacy.blank("en")
    words = "Kate visited London . Later Kate and William left London .".split()
    doc = Doc(nlp.vocab, words=words, sent_starts=[i in (0, 4) for i in range(len(words))])
    kate1, london1 = Span(doc, 0, 1, "PER", span_id="kate"), Span(doc, 2, 3, "LOC", span_id="london")
    kate2, william, london2 = (Span(doc, 5, 6, "PER", span_id="kate"), Span(doc, 7, 8, "PER", span_id="william"),
                               Span(doc, 9, 10, "LOC", span_id="london"))
    doc.spans["entities"] = [kate1, london1, kate2, william, london2]
    doc._.relations = [Relation(head=kate1, tail=london2, label="visited"),
                       Relation(head=william, tail=london1, label="visited")]
    pairs = {(" ".join(p.words), p.head, p.tail, p.label) for p in doc_pairs(doc)}
    assert pairs == {("Kate visited London .", (0, 1), (2, 3), "visited"),
                     ("Later Kate and William left London .", (1, 2), (5, 6), "visited"),
                     ("Later Kate and William left London .", (3, 4), (5, 6), "visited")}


def test_refuses_dev_sentences(corpus, tmp_path):
    dev = write_docbin(tmp_path / "dev.spacy", SENTENCES[1:2])
    settings = CPSettings(corpora=[corpus], dev=[dev], encoder="unused")
    with pytest.raises(ValueError, match="E803"):
        pretrain_cp(settings, tmp_path / "out")


def test_settings(tmp_path):
    cfg = tmp_path / "cp.cfg"
    cfg.write_text('[pretrain_cp]\ncorpora = ["a.spacy"]\nbatch_pairs = 8\n')
    assert load_settings(cfg, batch_pairs=None, epochs=2).batch_pairs == 8
    with pytest.raises(ValueError, match="E804"):
        load_settings(cfg, batch_pairs=1)
    with pytest.raises(ValueError, match="E804"):
        load_settings(cfg, nonsense=1)
    assert load_settings(CONFIG_DIR / "pretrain" / "cp_minilm.cfg").temperature == 0.05


def test_tiny_pretraining_run_resumes_and_loads_in_a_config(corpus, minilm_path, tmp_path):
    settings = CPSettings(corpora=[corpus], encoder=minilm_path, batch_pairs=4, epochs=3, max_steps=2,
                          max_length=24, warmup_steps=1, checkpoint_every=1, learning_rate=1e-4)
    seen = []
    result = pretrain_cp(settings, tmp_path, progress=lambda step, total, losses: seen.append((step, total, losses)))
    assert result.steps == 2 and result.pairs == 8 and [s[0] for s in seen] == [1, 2]
    assert set(seen[0][2]) == {"cp", "mlm"} and all(math.isfinite(v) for v in seen[0][2].values())
    settings.max_steps = 3
    resumed = pretrain_cp(settings, tmp_path, resume=True)
    assert resumed.steps == 3 and resumed.pairs == 12
    model_dir = Path(resumed.model_dir)
    assert (model_dir / "config.json").is_file() and (model_dir / "relext_cp.json").is_file()
    config = spacy.util.load_config(CONFIG_DIR / "ner_trf.cfg")
    config["components"]["transformer"]["model"]["name"] = str(model_dir)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    ref = Doc(nlp.vocab, words=["Ada", "was", "born", "in", "London", "."])
    ref.ents = [Span(ref, 0, 1, label="PER"), Span(ref, 4, 5, label="LOC")]
    nlp.initialize(lambda: [Example(Doc(nlp.vocab, words=[t.text for t in ref]), ref)])
    doc = nlp("Ada was born in London.")
    assert doc._.trf_data.tensors[0].shape[-1] == 384
    # CP fine-tuning (configs/cp_finetune.cfg) starts from the checkpoint, marker embeddings included
    config = spacy.util.load_config(CONFIG_DIR / "cp_finetune.cfg", overrides={"paths.encoder": str(model_dir)})
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    ref = Doc(nlp.vocab, words=["Ada", "was", "born", "in", "London", "."])
    ref.ents = [Span(ref, 0, 1, label="PER"), Span(ref, 4, 5, label="LOC")]
    ref.spans["entities"] = list(ref.ents)
    ref._.relations = [Relation(head=ref.ents[0], tail=ref.ents[1], label="place of birth")]
    nlp.initialize(lambda: [Example(Doc(nlp.vocab, words=[t.text for t in ref], ents=["B-PER", "O", "O", "O", "B-LOC",
                                                                                      "O"]), ref)])
    module = nlp.get_pipe("clm_classifier").model.get_ref("encoder").shims[0]._model
    _, mlm = load_mlm(str(model_dir))
    unused0 = module.tokenizer.convert_tokens_to_ids("[unused0]")
    assert module.marker_ids[0] == unused0
    assert torch.equal(module.encoder.get_input_embeddings().weight[unused0],
                       mlm.get_input_embeddings().weight[unused0])


def test_cli_refuses_dev_overlap(corpus, tmp_path, capsys):
    from spacy_relext.__main__ import main

    with pytest.raises(SystemExit):
        main(["pretrain-cp", str(tmp_path / "out"), "--corpora", corpus, "--dev", corpus, "--no-progress"])
    assert "E803" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["pretrain-cp", str(tmp_path / "out"), "--corpora", corpus, "--resume", "--no-progress"])
    assert "E805" in capsys.readouterr().err


def test_mlm_head_on_predicted_positions_only_equals_full_forward(minilm_path):
    from spacy_relext.cp.pytorch_cp import ContrastiveModel, load_mlm

    _, mlm = load_mlm(minilm_path)
    model = ContrastiveModel(mlm).eval()
    ids = torch.randint(1000, 5000, (2, 10))
    attention, positions = torch.ones_like(ids), torch.tensor([[1, 3], [2, 4]])
    targets = torch.full_like(ids, IGNORE_INDEX)
    targets[0, 5], targets[1, 7] = ids[0, 5], ids[1, 7]
    with torch.no_grad():
        reps, loss = model(ids, attention, positions, targets)
        full = mlm(input_ids=ids, attention_mask=attention, labels=targets, output_hidden_states=True)
    assert float(loss) == pytest.approx(float(full.loss), rel=1e-5)
    assert torch.allclose(reps[:, 384:], full.hidden_states[-1][[0, 1], [3, 4]], atol=1e-5)
