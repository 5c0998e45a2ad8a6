"""The sentence-level pair classifier and `diagnose` under the five entity representations."""
import pytest
from test_cp import SENTENCES, write_docbin

from spacy_relext.__main__ import main
from spacy_relext.entity_markers import ENTITY_REPRESENTATIONS
from spacy_relext.pair_classifier import PairClassifier, PairTrainSettings, diagnose, score_labels
from spacy_relext.pair_classifier import train_pair_classifier
from spacy_relext.sentence_pairs import read_pairs


def test_score_labels():
    gold, pred = ["a", "Other", "b", "b"], ["a", "b", "Other", "b"]
    assert score_labels(gold, pred) == {"acc": 0.5, "p": 0.5, "r": 0.5, "f": 0.5}
    scores = score_labels(gold, pred, negative_label="Other")
    assert scores["p"] == pytest.approx(2 / 3) and scores["r"] == pytest.approx(2 / 3)


def test_train_save_load_diagnose(minilm_path, tmp_path, capsys):
    train = write_docbin(tmp_path / "train.spacy", SENTENCES)
    pairs = read_pairs([train])
    settings = PairTrainSettings(epochs=1, batch_size=8, max_length=24)
    steps = []
    classifier = train_pair_classifier(pairs, minilm_path, settings, progress=lambda *a: steps.append(a))
    assert [s[0] for s in steps] == [1, 2] and classifier.labels == sorted({p.label for p in pairs})
    classifier.to_disk(tmp_path / "model")
    loaded = PairClassifier.from_disk(tmp_path / "model")
    assert loaded.predict(pairs) == classifier.predict(pairs)
    table = diagnose(loaded, pairs)
    assert list(table) == list(ENTITY_REPRESENTATIONS)
    main(["diagnose", str(tmp_path / "model"), train])
    out = capsys.readouterr().out
    assert "| accuracy |" in out and "OnlyT" in out
    with pytest.raises(SystemExit):
        main(["diagnose", str(tmp_path), train])
    assert "E806" in capsys.readouterr().err
