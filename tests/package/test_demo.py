"""`make demo` end to end, shortened: convert the bundled sample, train, extract, print."""
from spacy_relext.demo import run_demo


def test_demo_trains_and_prints_relations(capsys):
    run_demo(max_steps=4, n_sentences=2)
    out = capsys.readouterr().out
    assert "Converted conll04: 150 docs" in out and "Converted conll04: 40 docs" in out
    assert out.count("    gold:      ") >= 2  # the two unseen sentences are printed with their gold relations
