"""A `[training.before_update]` callback that writes when each update starts, so a
benchmark can tell the seconds spent on updates from those spent on evaluations and
loading (benchmarks/clm_vs_pair.py fits each system's steps to one budget of update time).
It changes nothing in training. Loaded with `spacy train ... --code benchmarks/step_clock.py`.
"""
import json
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

from spacy.language import Language
from spacy.util import registry


@registry.callbacks("spacy-relext-bench.step_clock.v1")
def make_step_clock(path: str) -> Callable[[Language, Dict[str, Any]], None]:
    """Append `{"step": n, "t": seconds}` (time.perf_counter) to PATH before every update."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("")

    def before_update(nlp: Language, info: Dict[str, Any]) -> None:
        with out.open("a") as f:
            f.write(json.dumps({"step": info["step"], "t": time.perf_counter()}) + "\n")

    return before_update


def update_seconds(path: Path, eval_frequency: int, skip: int = 0) -> List[float]:
    """The duration of each update from a step clock's file: the time from one update's
    start to the next one's, leaving out the intervals that also held an evaluation
    (spaCy evaluates after the updates whose step is a multiple of eval_frequency) and the
    first `skip` updates (warm-up of caches and allocators)."""
    ticks = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return [b["t"] - a["t"] for a, b in zip(ticks, ticks[1:])
            if a["step"] >= skip and a["step"] % eval_frequency != 0]
