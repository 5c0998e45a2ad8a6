"""Refuse a `spacy train` output that was never evaluated after step 0 (issue 25).

spaCy's training loop (spacy/training/loop.py, `train_while_improving`) evaluates the
pipeline at every step that is a multiple of `eval_frequency`, starting with step 0
(after the first update), and stops after step `max_steps`. When `max_steps` is below
`eval_frequency`, step 0 is the only evaluation: `model-best` is the pipeline after one
update, and its `meta.json` holds that pipeline's dev scores. Nothing fails and nothing
warns, so a short run silently ships an untrained pipeline. The saved `config.cfg` holds
the values the run used (command-line overrides included), so the evaluated steps can be
read back from it; `meta.json` records the scores but not the step.
"""
import dataclasses
import warnings
from pathlib import Path
from typing import Any, Dict, List, Union

from thinc.api import Config

from .errors import Errors, Warnings


@dataclasses.dataclass
class TrainingCheck:
    """The evaluations of one `spacy train` run, read from a pipeline it saved.

    path (Path): The pipeline directory.
    max_steps (int): The run's `[training] max_steps` (0: no limit).
    eval_frequency (int): The run's `[training] eval_frequency`.
    scores (Dict[str, float]): The dev scores in `meta.json` (`performance`).
    """

    path: Path
    max_steps: int
    eval_frequency: int
    scores: Dict[str, float]

    @property
    def last_evaluated_step(self) -> int:
        """RETURNS (int): The last step the run evaluated (for max_steps > 0)."""
        return self.max_steps - self.max_steps % self.eval_frequency

    def format(self) -> str:
        """RETURNS (str): One line: the evaluated steps and the dev scores."""
        if self.max_steps:
            steps = f"evaluated at steps 0, {self.eval_frequency}, ..., {self.last_evaluated_step}"
        else:
            steps = f"evaluated every {self.eval_frequency} steps"
        scores = ", ".join(f"{name} {value:.3f}" for name, value in self.scores.items()
                           if isinstance(value, (int, float)) and not name.endswith("_loss"))
        return f"{self.path}: {steps} (max_steps {self.max_steps}); dev scores: {scores or 'none'}"


def check_trained(path: Union[str, Path]) -> TrainingCheck:
    """Check that `spacy train` evaluated a saved pipeline after step 0.

    path (Union[str, Path]): A `spacy train` output (`model-best` or `model-last`).
    RETURNS (TrainingCheck): The run's evaluations. Raises E140 when step 0 was the only
        one, E141 when the directory holds no training config; warns W070 when the last
        steps were never evaluated, W071 when the config cannot tell.
    """
    path = Path(path)
    config_path = path / "config.cfg"
    if not config_path.is_file():
        raise ValueError(Errors.E141.format(path=path, reason="no config.cfg in it"))
    training = Config().from_disk(config_path).get("training", {})
    try:
        max_steps, eval_frequency = int(training["max_steps"]), int(training["eval_frequency"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(Errors.E141.format(
            path=path, reason="its config.cfg has no integer [training] max_steps and eval_frequency")) from None
    check = TrainingCheck(path=path, max_steps=max_steps, eval_frequency=eval_frequency, scores=read_scores(path))
    if max_steps <= 0:
        warnings.warn(Warnings.W071.format(path=path, max_epochs=training.get("max_epochs"),
                                           patience=training.get("patience"), eval_frequency=eval_frequency))
    elif max_steps < eval_frequency:
        raise ValueError(Errors.E140.format(path=path, max_steps=max_steps, eval_frequency=eval_frequency,
                                            suggestion=largest_divisor_at_most(max_steps, eval_frequency)))
    elif max_steps % eval_frequency:
        warnings.warn(Warnings.W070.format(
            path=path, last_evaluated=check.last_evaluated_step, eval_frequency=eval_frequency, max_steps=max_steps,
            unevaluated=max_steps - check.last_evaluated_step,
            suggestion=largest_divisor_at_most(max_steps, eval_frequency)))
    return check


def read_scores(path: Path) -> Dict[str, Any]:
    """RETURNS (Dict[str, Any]): `performance` of the pipeline's meta.json ({} without one)."""
    import srsly

    meta_path = path / "meta.json"
    return dict(srsly.read_json(meta_path).get("performance") or {}) if meta_path.is_file() else {}


def largest_divisor_at_most(number: int, limit: int) -> int:
    """The eval_frequency to suggest: evaluations as rare as asked, and one at the last step.

    number (int): max_steps (>= 1).
    limit (int): The eval_frequency the run used.
    RETURNS (int): The largest divisor of `number` that is at most `limit`.
    """
    divisors: List[int] = [d for d in range(1, min(number, limit) + 1) if number % d == 0]
    return divisors[-1]
