"""Writing outputs without ever destroying what a user owns.

Every command that writes (convert, split, visualize, pretrain-cp) goes through the two
functions here:

- `check_outputs` runs before any work: it refuses an output that is (or holds) one of
  the inputs (E110), two outputs on one path (E111), an existing output unless
  `overwrite` (E112), and an output of the wrong kind, e.g. a directory where a file is
  written (E113).
- `atomic_output` gives the writer a temporary path beside the output and moves it onto
  the output only when the writer finished, so an interrupted run (an exception, Ctrl-C,
  kill -9) never leaves a half-written output and never destroys the previous one.
"""
import os
import shutil
import uuid
from contextlib import contextmanager
from itertools import combinations
from pathlib import Path
from typing import Iterator, Sequence, Union

from .errors import Errors

PathLike = Union[str, Path]
TMP_MARK = ".relext-tmp-"


def same_path(a: PathLike, b: PathLike) -> bool:
    """Whether two paths name one file or directory (symlinks resolved; hard links
    and case-insensitive file systems through `os.path.samefile` when both exist)."""
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def is_within(inner: PathLike, outer: PathLike) -> bool:
    """Whether `inner` is `outer` or lies inside the directory `outer`."""
    inner, outer = Path(inner).resolve(), Path(outer).resolve()
    return same_path(inner, outer) or outer in inner.parents


def check_outputs(
    outputs: Sequence[PathLike], inputs: Sequence[PathLike], *, overwrite: bool = False, is_dir: bool = False
) -> None:
    """Refuse outputs that would destroy an input, each other, or an existing output.

    outputs (Sequence[Path]): What the command writes (each replaced as a whole).
    inputs (Sequence[Path]): What it reads, files or directories. An input inside a
        directory output would be deleted with it, so that is refused too.
    overwrite (bool): Replace existing outputs; without it an existing output is E112.
    is_dir (bool): The outputs are directories (else files).
    """
    outputs = [Path(p) for p in outputs]
    for first, second in combinations(outputs, 2):
        if same_path(first, second):
            raise ValueError(Errors.E111.format(first=first, second=second))
    for output in outputs:
        for source in inputs:
            if is_within(source, output):
                raise ValueError(Errors.E110.format(output=output, input=source))
        if not (output.exists() or output.is_symlink()):
            continue
        if output.is_dir() != is_dir:
            expected, found = ("directory", "file") if is_dir else ("file", "directory")
            raise ValueError(Errors.E113.format(path=output, found=found, expected=expected))
        if not overwrite:
            raise FileExistsError(Errors.E112.format(path=output))


@contextmanager
def atomic_output(path: PathLike) -> Iterator[Path]:
    """A temporary path beside `path` for the writer; it replaces `path` when the block
    ends without an exception, and is removed otherwise.

    The writer creates a file or a directory at the yielded path. A file replaces the
    output with one `os.replace` (atomic). A directory replaces an existing one by two
    renames (the old one aside, the new one in), so only those two system calls could be
    interrupted, never the writing. Temporary files left by a killed run are removed by
    the next write to the same output.

    path (Path): The output.
    YIELDS (Path): Where to write (not yet existing; its parent exists).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        if tmp.is_dir():
            _replace_dir(tmp, path)
        else:
            _fsync(tmp)
            os.replace(tmp, path)
    finally:
        _remove(tmp)


def _replace_dir(tmp: Path, path: Path) -> None:
    if not path.exists():
        os.rename(tmp, path)
        return
    old = tmp.with_name(tmp.name + "-old")
    os.rename(path, old)
    os.rename(tmp, path)
    _remove(old)


def _fsync(path: Path) -> None:
    # the data must be on disk before the rename makes it the output (power loss)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _remove_stale(path: Path) -> None:
    """Remove temporaries of `path` left by killed runs (their process is gone)."""
    for tmp in path.parent.glob(f".{path.name}{TMP_MARK}*"):
        pid = tmp.name[len(f".{path.name}{TMP_MARK}") :].split("-")[0]
        if pid.isdigit() and not _running(int(pid)):
            _remove(tmp)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
