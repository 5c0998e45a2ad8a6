"""Pipelines saved by an earlier release (tests/package/fixtures/saved_pipelines, built by its
build.py before the code moved to one folder per method) load and predict exactly
what they predicted when they were saved: registered names, entry points and saved
formats stay stable across code moves (they predate checksums: W020)."""
import importlib.util
import json
from pathlib import Path

import pytest
import spacy

FIXTURES = Path(__file__).parent / "fixtures" / "saved_pipelines"


def _builder():
    # Importing the builder registers the stand-in backbone of the logic_reasoner fixture.
    spec = importlib.util.spec_from_file_location("saved_pipelines_build", FIXTURES / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _builder()
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


@pytest.mark.usefixtures("torch_single_thread")
@pytest.mark.parametrize("name", BUILD.NAMES_BUILT)
def test_saved_pipeline_loads_and_predicts_the_same(name):
    # saved before components carried checksums: loaded as they are, with warning W020
    with pytest.warns(UserWarning, match=r"\[W020\] Component '\w+' \(.*\) was saved without checksums"):
        nlp = spacy.load(FIXTURES / name)
    rows = [BUILD.relation_rows(nlp(doc)) for doc in BUILD.probe_docs(name, nlp)]
    assert sum(len(r) for r in rows) > 0
    for got, want in zip(rows, EXPECTED[name]):
        assert [row[:5] + row[6:] for row in got] == [row[:5] + row[6:] for row in want]
        assert [row[5] for row in got] == pytest.approx([row[5] for row in want], abs=1e-4)
