"""benchmarks/clm_pass_memory.py end to end on a few CoNLL04 sentences: each row trains one
update in its own process, the passes follow the limit, and the report renders the rows."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
sys.path.insert(0, str(ROOT / "benchmarks"))

import report  # noqa: E402

pytestmark = pytest.mark.corpus


def test_clm_pass_memory_smoke(tmp_path):
    out = tmp_path / "results" / "clm_pass_memory.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "clm_pass_memory.py"), "--corpus-dir", str(CORPUS),
                    "--work", str(tmp_path / "work"), "--smoke", "--limits", "none,5", "--out", str(out)],
                   check=True, cwd=ROOT)
    rows = json.loads(out.read_text())["figures"]["rows"]
    assert [(r["batch"], r["limit"]) for r in rows] == [("typical", None), ("typical", 5), ("worst", None),
                                                      ("worst", 5)]
    for row in rows:
        assert row["sentences"] == 4 and row["sequences"] > 5
        assert row["passes"] == (1 if row["limit"] is None else -(-row["sequences"] // 5))
    assert rows[2]["entities"] >= rows[0]["entities"]  # the worst batch holds the most entities
    (tmp_path / "notes").mkdir()
    text = report.render(report.load(out.parent), tmp_path / "notes")
    assert "| typical | null (one pass) | 4 |" in text and "| worst | 5 | 4 |" in text
