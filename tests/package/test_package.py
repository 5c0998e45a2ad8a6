"""Distribution: `spacy package` of a trained pipeline builds a wheel that requires
spacy-relext. Installed into a fresh virtual environment with the README's commands
(torch==2.13.0 first, as `make install` does, then the spacy-relext wheel built beside the
pipeline's, then the pipeline wheel), `spacy.load(name)` finds every component
through the entry points, with no --code file, and extracts the same entities and
relations as the pipeline did before packaging.

Slow (a wheel build and a venv install, a few minutes): `make test` runs it;
`pytest -m "not slow"` skips it.
"""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import spacy
from spacy.cli.train import train
from spacy.tokens import DocBin

from spacy_relext.convert import convert
from spacy_relext.demo import CONFIG, SAMPLE_DEV

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
NAME, VERSION = "relext_pkgtest", "0.0.1"
PACKAGE = f"en_{NAME}"
# Run before packaging (pipeline directory) and in the fresh venv (package name): the
# pipeline end to end on texts, and its pipes after the ner on Docs with given entities
# (so relations are compared even where the ner finds none).
SCRIPT = """
import json, sys
import spacy
from spacy.tokens import Doc, Span
import spacy_relext

def view(doc):
    return {"ents": [[e.start, e.end, e.label_] for e in doc.ents],
            "relations": [[r.head.start, r.head.end, r.tail.start, r.tail.end, r.label, round(r.score, 4)]
                          for r in doc._.relations]}

nlp = spacy.load(sys.argv[1])
data = json.loads(sys.stdin.read())
given = []
for words, spaces, ents in data["docs"]:
    doc = Doc(nlp.vocab, words=words, spaces=spaces)
    doc.ents = [Span(doc, s, e, label=label) for s, e, label in ents]
    for name, pipe in nlp.pipeline:
        if name != "ner":
            doc = pipe(doc)
    given.append(view(doc))
print(json.dumps({"module": spacy_relext.__file__, "texts": [view(d) for d in nlp.pipe(data["texts"])],
                  "given": given}))
"""


def run(cmd, **kwargs):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_packaged_pipeline_loads_in_fresh_venv(tmp_path):
    # Overfit 16 sample sentences for 60 steps: enough for the pipeline to predict relations
    convert("conll04", SAMPLE_DEV.parent / "train.json", tmp_path / "train.spacy", show_progress=False)
    overrides = {"paths.train": str(tmp_path / "train.spacy"), "paths.dev": str(tmp_path / "train.spacy"),
                 "corpora.train.limit": 16, "corpora.dev.limit": 16, "training.max_steps": 60,
                 "training.eval_frequency": 20}
    train(CONFIG, tmp_path / "model", overrides=overrides)
    model = tmp_path / "model" / "model-last"

    # Before packaging: the saved pipeline, run by the same script in this environment
    gold = list(DocBin().from_disk(tmp_path / "train.spacy").get_docs(spacy.blank("en").vocab))[:12]
    data = json.dumps({
        "texts": [doc.text for doc in gold],
        "docs": [[[t.text for t in doc], [bool(t.whitespace_) for t in doc],
                  [[e.start, e.end, e.label_] for e in doc.ents]] for doc in gold],
    })
    script = tmp_path / "predict.py"
    script.write_text(SCRIPT, encoding="utf8")
    before = json.loads(run([sys.executable, str(script), str(model)], input=data, cwd=tmp_path))
    assert sum(len(view["relations"]) for view in before["given"]) > 0, "nothing to compare: no relation predicted"

    # spacy package, no --code: spaCy finds the requirement from the factories' distribution
    (tmp_path / "packages").mkdir()
    run([sys.executable, "-m", "spacy", "package", str(model), str(tmp_path / "packages"), "--name", NAME,
         "--version", VERSION, "--build", "wheel"])
    package_dir = tmp_path / "packages" / f"{PACKAGE}-{VERSION}"
    requirements = json.loads((package_dir / "meta.json").read_text())["requirements"]
    assert any(req.startswith("spacy-relext") for req in requirements), requirements
    wheel = package_dir / "dist" / f"{PACKAGE}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"{PACKAGE}-{VERSION}.dist-info/METADATA").decode("utf8")
    assert any(line.startswith("Requires-Dist: spacy-relext") for line in metadata.splitlines()), metadata

    # The spacy-relext wheel beside the pipeline's, built as the package steps of project.yml build it
    dist = package_dir / "dist"
    run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(dist)], cwd=ROOT)
    (own_wheel,) = dist.glob("spacy_relext-*.whl")

    # A fresh venv and the README's commands: torch first (the local CPU wheel, as make install
    # does), then the spacy-relext wheel, then the pipeline wheel, each installed on its own
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    run([python, "-m", "pip", "install", "--quiet", "torch==2.13.0"])
    run([python, "-m", "pip", "install", "--quiet", str(own_wheel)], cwd=dist)
    run([python, "-m", "pip", "install", "--quiet", str(wheel)], cwd=dist)
    after = json.loads(run([python, str(script), PACKAGE], input=data, cwd=tmp_path))
    assert Path(after.pop("module")).is_relative_to(venv), "spacy_relext was not imported from the fresh venv"
    before.pop("module")
    assert after == before
