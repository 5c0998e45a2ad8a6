"""Memory bound: on a document with 200 entities (100 sentences of two), processing
raises the peak resident memory of the process by at most MAX_INCREASE_MIB, for the
logic reasoner and the pair components. Measured (BENCHMARKS.md, tests/package/memory_probe.py,
2 shared CPU cores): 85 MiB (clm_classifier), 29 MiB (rationale_masker), 75 MiB
(logic_reasoner); the bound leaves generous headroom. Each component runs in its own forked process, since
the peak (ru_maxrss) only ever grows."""
import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = Path(__file__).parent / "memory_probe.py"
MAX_INCREASE_MIB = 400
COMPONENTS = ["clm_classifier", "rationale_masker", "logic_reasoner"]


def test_200_entities_stay_within_the_memory_bound():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(PROBE), ",".join(COMPONENTS), "sentences", "2"], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    assert [r["component"] for r in results] == COMPONENTS
    for result in results:
        assert result["entities"] == 200, result
        assert 0 <= result["increase_mib"] <= MAX_INCREASE_MIB, result
