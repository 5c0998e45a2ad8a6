"""benchmarks/cp_formats.py end to end on a few documents: each format's files are
rewritten with one type token per type, a model is trained and scored per format."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"


def test_one_model_per_format_on_typed_wiki80(tmp_path):
    if not (CORPUS / "wiki80").is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    out = tmp_path / "cp_formats.json"
    command = [sys.executable, "benchmarks/cp_formats.py", "--corpus-dir", str(CORPUS), "--work", str(tmp_path),
               "--datasets", "wiki80", "--formats", "OnlyT", "C+M", "--seeds", "0", "--limit", "30",
               "--dev-per-relation", "2", "--jobs", "1", "--out", str(out)]
    subprocess.run(command, cwd=ROOT, check=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    result = json.loads(out.read_text())
    assert result["mode"] == "smoke" and set(result["figures"]["cells"]) == {"wiki80 OnlyT", "wiki80 C+M"}
    from spacy_relext.cp.sentence_pairs import read_docs

    only_t = list(read_docs([result["figures"]["inputs"]["wiki80 OnlyT"]["dev"]]))
    c_m = list(read_docs([result["figures"]["inputs"]["wiki80 C+M"]["dev"]]))
    # OnlyT: the two type tokens alone; C+M: the sentence as it was
    assert all(len(doc) == 2 and all(t.text.startswith("RELEXTTYPE") for t in doc) for doc in only_t)
    assert all(len(doc) > 2 and len(doc._.relations) == 1 for doc in c_m)
    cell = result["figures"]["cells"]["wiki80 OnlyT"]
    assert cell["acc"]["n"] == 1 and 0.0 <= cell["acc"]["median"] <= 1.0
