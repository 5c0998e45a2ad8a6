"""Detect a `model-best` or `model-last` that a killed `spacy train` left incomplete.

spaCy's training loop (spacy/training/loop.py, `save_checkpoint`) writes `model-last`
in place with `nlp.to_disk`, then, for a new best score, deletes `model-best` and copies
`model-last` to it with `shutil.copytree`. Neither step is atomic, and the loop offers
no hook around them (`[training.before_to_disk]` only sees the nlp object before
`model-last` is written), so a plugin cannot make them atomic without patching spaCy.

What the plugin can do is refuse to load what is left. Both directories are saves of
the same pipeline, so a complete pair holds the same saved files (`config.cfg`,
`meta.json`, `tokenizer`, `vocab/` and one directory per component; other files a user
adds are ignored); a copy or a deletion killed midway leaves a subset, or no directory.
`check_pipeline_dir` compares the two and raises E114 naming the other directory as the
complete copy, or E115 when neither is complete. A save killed while it overwrote existing files in place (`model-last`
after its first save) leaves no file missing: that, and a file cut short while it was
copied, is what the components' own load checks (E408 and the checksums) catch.
"""
from pathlib import Path
from typing import List, Optional, Set, Union

from thinc.api import Config

from .errors import Errors

# The directories `spacy train` writes, each with the other one of its training run.
TRAINING_PAIR = {"model-best": "model-last", "model-last": "model-best"}
# What `nlp.to_disk` writes besides one directory per component.
SAVE_PARTS = ("config.cfg", "meta.json", "tokenizer", "vocab")
SHOWN = 5  # missing files named in a message


def check_pipeline_dir(path: Union[str, Path]) -> None:
    """Raise E114 (or E115) if `path` is the `model-best` or `model-last` of a
    `spacy train` output and lacks files the other one has. Any other path passes.

    path (Path): A pipeline directory (as given to `spacy.load`).
    """
    path = Path(path)
    other = training_pair(path)
    if other is None:
        return
    missing = missing_files(path, other)
    if not missing:
        return
    shown = ", ".join(missing[:SHOWN]) + (f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else "")
    if not missing_files(other, path):
        raise ValueError(Errors.E114.format(path=path, missing=shown, complete=other))
    raise ValueError(Errors.E115.format(path=path, missing=shown, other=other))


def missing_files(path: Path, other: Path) -> List[str]:
    """The saved files (relative paths) `other` holds and `path` lacks; the whole
    directory when `path` does not exist."""
    if not path.is_dir():
        return ["the whole directory"]
    parts = set(SAVE_PARTS) | set(_pipeline(_read_config(other / "config.cfg") or Config()))
    return sorted(name for name in _files(other) - _files(path) if name.split("/")[0] in parts)


def training_pair(path: Path) -> Optional[Path]:
    """The other directory of a `spacy train` output (model-best <-> model-last), if it
    is a saved pipeline of the same components; else None."""
    if path.name not in TRAINING_PAIR:
        return None
    other = path.parent / TRAINING_PAIR[path.name]
    other_config = _read_config(other / "config.cfg")
    if other_config is None:
        return None
    config = _read_config(path / "config.cfg")
    if config is not None and _pipeline(config) != _pipeline(other_config):
        return None  # not one training run
    return other


def _pipeline(config: Config) -> List[str]:
    return list(config.get("nlp", {}).get("pipeline", []))


def _read_config(path: Path) -> Optional[Config]:
    if not path.is_file():
        return None
    try:
        return Config().from_disk(path, interpolate=False)
    except Exception:  # cut short while copied: the file comparison tells the rest
        return None


def _files(path: Path) -> Set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
