"""What the benchmark configs name and the package does not register: importing this file
(`spacy train ... --code benchmarks/bench_code.py`) registers the pair-MLP reference
(benchmarks/pair_mlp.py) and the step clock (benchmarks/step_clock.py)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pair_mlp  # noqa: E402,F401
import step_clock  # noqa: E402,F401
