"""Memory bound: on a document with 200 entities (100 sentences of two), processing
raises the peak resident memory of the process by at most MAX_INCREASE_MIB, for the
logic reasoner and the pair components. Measured (BENCHMARKS.md, tests/memory_probe.py):
about 65 MiB (clm_classifier), 6 MiB (rationale_masker), 65 MiB (logic_reasoner); the
bound leaves generous headroom. Each component runs in its own process, since the peak
(ru_maxrss) only ever grows."""
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
    procs = [subprocess.Popen([sys.executable, str(PROBE), name, "sentences", "2"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for name in COMPONENTS]
    results = []
    for name, proc in zip(COMPONENTS, procs):
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    for result in results:
        assert result["mentions"] >= 200, result
        assert 0 <= result["increase_mib"] <= MAX_INCREASE_MIB, result
