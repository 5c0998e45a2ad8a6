"""`annotate`: run a pipeline over a corpus into Parquet tables, locally or on Ray.

    from spacy_relext.annotate import annotate
    summary = annotate("training/demo/model-best", "news.jsonl", "news_relations")

The input is cut into partitions (`corpus`), each annotated and written once under a
name derived from it (`store`), by `nlp.pipe` in this process (`engine="local"`) or by a
pool of Ray actors (`engine="ray"`, `ray_engine`). A rerun on the same output skips the
finished partitions. At the end the output is read back and every input record is
checked to be in it exactly once, as a document or as a bad record.
"""
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Tuple, Union

from ..errors import Errors, Warnings
from .store import CheckReport, PartitionSummary, examples

PathLike = Union[str, Path]
ENGINES = ("local", "ray")
DEFAULT_MAX_CHARS = 1_000_000  # spaCy's default nlp.max_length


@dataclass
class AnnotateSummary:
    """What a run did, and the final check of the whole output."""

    output: Path
    engine: str
    partitions: int
    skipped: int
    annotated: List[PartitionSummary] = field(default_factory=list)
    check: CheckReport = field(default_factory=CheckReport)

    def format(self) -> str:
        c = self.check
        lines = [
            f"{c.documents} documents annotated, {c.relations} relations, {c.errors} bad records, in {c.partitions} "
            f"partitions ({len(self.annotated)} annotated by this run with the {self.engine} engine, "
            f"{self.skipped} finished before): {self.output}",
            f"Exactly once: each of the {c.documents + c.errors} input records is in one row of "
            f"{self.output / 'documents'} or {self.output / 'errors'}.",
        ]
        if c.errors:
            lines.append(f"Bad records, with the reason of each: {self.output / 'errors'}/*.jsonl")
        if c.repeated_ids:
            lines.append(f"{len(c.repeated_ids)} document ids occur more than once in the input: see the warning.")
        return "\n".join(lines)


def annotate(
    pipeline: str,
    input_path: PathLike,
    output: PathLike,
    *,
    engine: str = "local",
    n_process: int = 1,
    batch_size: int = 64,
    partition_size: int = 1000,
    text_field: str = "text",
    id_field: str = "id",
    max_chars: int = DEFAULT_MAX_CHARS,
    docbins: bool = False,
    address: Optional[str] = None,
    workers: Optional[int] = None,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float = 0.0,
    progress: Optional[Callable[[int, int], None]] = None,
    on_partition: Optional[Callable[[PartitionSummary], None]] = None,
) -> AnnotateSummary:
    """Annotate a corpus with a pipeline; resume an earlier run on the same output.

    pipeline (str): Pipeline directory or installed package name.
    input_path (Path): A .jsonl, .parquet or .spacy file, or a folder of such files or of .txt files.
    output (Path): The output folder: new, empty, or an earlier run of the same input and settings.
    engine (str): "local" (nlp.pipe in this process) or "ray".
    n_process (int): local: processes of nlp.pipe.
    batch_size (int): Docs per batch of nlp.pipe.
    partition_size (int): Records per partition (the unit written, skipped on a rerun and
        handed to a Ray worker).
    text_field (str): JSONL field or Parquet column of the text.
    id_field (str): JSONL field or Parquet column of the document id (optional in the data;
        DocBins: the key in doc.user_data).
    max_chars (int): A longer text is a bad record.
    docbins (bool): Also write the annotated Docs as DocBins.
    address (str): ray: the cluster to connect to (default: start a local one).
    workers (int): ray: actors in the pool (default: as many as the cluster's CPUs allow).
    cpus_per_worker (float): ray: CPUs per actor.
    gpus_per_worker (float): ray: GPUs per actor (> 0 runs the pipeline on GPU; the pool
        is then sized by GPUs).
    progress (Callable[[int, int], None]): Called with each number of records done (bad
        ones included; at the start, those of the partitions finished before) and the total.
    on_partition (Callable[[PartitionSummary], None]): Called as each partition is written.
    RETURNS (AnnotateSummary): The run, and the final check (E145 if it fails).
    """
    from .corpus import scan_input
    from .store import open_store
    from .stream import ReadSettings

    _check_options(engine=engine, n_process=n_process, batch_size=batch_size, partition_size=partition_size,
                   max_chars=max_chars, workers=workers, cpus_per_worker=cpus_per_worker,
                   gpus_per_worker=gpus_per_worker)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError(Errors.E144) from None
    scan = scan_input(input_path, partition_size)
    pipeline_name, pipeline_version = _pipeline_identity(pipeline)
    if engine == "ray":
        from spacy.util import is_package

        # checked here: a Ray worker that cannot load it fails in the workers' logs, again and again
        if not (Path(pipeline_name).exists() or is_package(pipeline_name)):
            raise OSError(Errors.E148.format(pipeline=pipeline))
    settings = {"input": str(scan.root), "fingerprint": scan.fingerprint, "partition_size": partition_size,
                "text_field": text_field, "id_field": id_field, "pipeline": pipeline_name,
                "pipeline_version": pipeline_version, "max_chars": max_chars, "docbins": docbins}
    store = open_store(Path(output), settings, scan.root)
    finished = store.finished()
    pending = [p for p in scan.partitions if p.name not in finished]
    total = scan.records

    def advance(done: int) -> None:
        if progress is not None:
            progress(done, total)

    advance(sum(p.size for p in scan.partitions if p.name in finished))
    read = ReadSettings(text_field=text_field, id_field=id_field, max_chars=max_chars)
    summary = AnnotateSummary(Path(output), engine, len(scan.partitions), len(scan.partitions) - len(pending))
    if engine == "ray":
        from .ray_engine import run_ray

        def report(done: PartitionSummary) -> None:
            advance(done.documents + done.errors)
            if on_partition is not None:
                on_partition(done)

        summary.annotated = run_ray(pipeline_name, pending, store, read, address=address, workers=workers,
                                    cpus_per_worker=cpus_per_worker, gpus_per_worker=gpus_per_worker,
                                    batch_size=batch_size, on_partition=report)
    elif pending:
        import spacy

        from .stream import annotate_partitions

        nlp = spacy.load(pipeline_name)
        for done in annotate_partitions(nlp, pending, store, read, batch_size=batch_size, n_process=n_process,
                                        worker="local", progress=advance):
            summary.annotated.append(done)
            if on_partition is not None:
                on_partition(done)
    summary.check = store.check(scan)
    check = summary.check
    if not check.exactly_once:
        problems = []
        if check.missing:
            problems.append(f"{len(check.missing)} partitions not written ({examples(check.missing)})")
        if check.miscounted:
            problems.append(f"records missing from partitions {examples(check.miscounted)}")
        if check.repeated_records:
            problems.append(f"records in more than one row: {examples(check.repeated_records)}")
        raise ValueError(Errors.E145.format(output=output, problems="; ".join(problems)))
    if check.repeated_ids:
        shown = examples(f"{key!r} ({n} times)" for key, n in sorted(check.repeated_ids.items()))
        warnings.warn(Warnings.W072.format(count=len(check.repeated_ids), ids=shown, field=id_field))
    return summary


def _pipeline_identity(pipeline: str) -> Tuple[str, str]:
    """(name, version) of a pipeline: a directory's absolute path and the fingerprint of its
    files (a pipeline retrained in place is another pipeline), or a package's name and
    installed version."""
    from importlib.metadata import PackageNotFoundError, version

    from .corpus import fingerprint

    path = Path(pipeline)
    if path.exists():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return str(path.resolve()), fingerprint(files, path)
    try:
        return pipeline, version(pipeline)
    except PackageNotFoundError:
        return pipeline, ""  # spacy.load says what is wrong with the name


def _check_options(*, engine: str, n_process: int, batch_size: int, partition_size: int, max_chars: int,
                   workers: Optional[int], cpus_per_worker: float, gpus_per_worker: float) -> None:
    if engine not in ENGINES:
        raise ValueError(Errors.E146.format(engine=engine, engines=", ".join(ENGINES)))
    whole = {"n_process": n_process, "batch_size": batch_size, "partition_size": partition_size,
             "max_chars": max_chars, "workers": 1 if workers is None else workers}
    bad = [f"{name} = {value!r}" for name, value in whole.items() if not isinstance(value, int) or value < 1]
    if cpus_per_worker <= 0:
        bad.append(f"cpus_per_worker = {cpus_per_worker!r}")
    if gpus_per_worker < 0:
        bad.append(f"gpus_per_worker = {gpus_per_worker!r}")
    if bad:
        raise ValueError(Errors.E147.format(problems=", ".join(bad)))
