"""The output folder of `annotate`: its manifest, the parts of each partition, the final check.

    OUTPUT/manifest.json              what was annotated, with what (a rerun must match it)
    OUTPUT/relations/NAME.parquet     one row per relation
    OUTPUT/errors/NAME.jsonl          one line per bad record (only for partitions with some)
    OUTPUT/docs/NAME.spacy            the annotated Docs (with --docbins)
    OUTPUT/documents/NAME.parquet     one row per annotated document, written last

NAME is the input partition's name. Every part is written through `atomic_output`, and
the documents part last: it is the mark that the partition is finished. A partition
interrupted before it (Ctrl-C, a killed process or Ray worker) has no documents part, so
a rerun annotates it again and replaces whatever parts it had under the same names. A
part is therefore never half-written and never written twice, whichever worker wrote it.

The folder is never shared with anything else: `open_store` refuses an output inside the
input (a rerun would read its own parts as input), a non-empty folder without the
manifest (a user's folder), and a manifest of another input, pipeline or settings.
"""
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set

from ..errors import Errors
from ..safe_write import atomic_output, is_within
from .corpus import InputScan

MANIFEST = "manifest.json"
FORMAT = "spacy-relext annotate"
FORMAT_VERSION = 1
# Settings that change what is written: a rerun resumes only with the same ones.
SETTINGS = ("input", "fingerprint", "partition_size", "text_field", "id_field", "pipeline", "pipeline_version",
            "max_chars", "docbins")
SHOWN = 5  # examples named in a message


@dataclass
class PartitionSummary:
    """What annotating one partition gave (returned by the workers to the driver)."""

    name: str
    documents: int = 0
    relations: int = 0
    errors: int = 0
    worker: str = ""


@dataclass
class CheckReport:
    """The final check: every input record exactly once in the output."""

    partitions: int = 0
    documents: int = 0
    relations: int = 0
    errors: int = 0
    missing: List[str] = field(default_factory=list)
    miscounted: List[str] = field(default_factory=list)
    repeated_records: List[str] = field(default_factory=list)
    repeated_ids: Dict[str, int] = field(default_factory=dict)

    @property
    def exactly_once(self) -> bool:
        return not (self.missing or self.miscounted or self.repeated_records)


class OutputStore:
    """The output folder of one annotate run (made by `open_store`)."""

    def __init__(self, root: Path, docbins: bool = False) -> None:
        self.root = Path(root)
        self.docbins = docbins

    def path(self, table: str, name: str) -> Path:
        suffix = {"relations": ".parquet", "documents": ".parquet", "errors": ".jsonl", "docs": ".spacy"}[table]
        return self.root / table / f"{name}{suffix}"

    def finished(self) -> Set[str]:
        """The names of the partitions whose documents part is written."""
        folder = self.root / "documents"
        return {p.name[: -len(".parquet")] for p in folder.glob("*.parquet")} if folder.is_dir() else set()

    def write_partition(self, name: str, relations: List[Dict[str, Any]], documents: List[Dict[str, Any]],
                        errors: List[Dict[str, Any]], docbin: Optional[bytes]) -> None:
        """Write the parts of one partition, the documents part last (see the module)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from .rows import schemas

        tables = schemas()
        with atomic_output(self.path("relations", name)) as tmp:
            pq.write_table(pa.Table.from_pylist(relations, schema=tables["relations"]), tmp)
        errors_path = self.path("errors", name)
        if errors:
            with atomic_output(errors_path) as tmp:
                tmp.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in errors), encoding="utf8")
        else:
            errors_path.unlink(missing_ok=True)  # left by an interrupted earlier attempt, if any
        if docbin is not None:
            with atomic_output(self.path("docs", name)) as tmp:
                tmp.write_bytes(docbin)
        with atomic_output(self.path("documents", name)) as tmp:
            pq.write_table(pa.Table.from_pylist(documents, schema=tables["documents"]), tmp)

    def check(self, scan: InputScan) -> CheckReport:
        """Read the output back: every partition finished, its documents and bad records
        adding up to its input records, and every record in exactly one row. It reads the
        `record` and `doc_id` columns only, but holds every key in memory (tens of bytes a
        record: about a GB for ten million records).

        scan (InputScan): The input, as annotated.
        RETURNS (CheckReport): The counts and whatever is wrong.
        """
        import pyarrow.parquet as pq

        report = CheckReport(partitions=len(scan.partitions))
        records: Counter = Counter()
        ids: Counter = Counter()
        for partition in scan.partitions:
            documents = self.path("documents", partition.name)
            if not documents.exists():
                report.missing.append(partition.name)
                continue
            table = pq.read_table(documents, columns=["record", "doc_id"])
            bad = self._error_rows(partition.name)
            found = table.num_rows + len(bad)
            if found != partition.size:
                report.miscounted.append(f"{partition.name} ({found} of {partition.size} records)")
            records.update(table.column("record").to_pylist())
            records.update(row["record"] for row in bad)
            ids.update(table.column("doc_id").to_pylist())
            ids.update(row["doc_id"] for row in bad)
            report.documents += table.num_rows
            report.errors += len(bad)
            relations = self.path("relations", partition.name)
            report.relations += pq.ParquetFile(relations).metadata.num_rows if relations.exists() else 0
        report.repeated_records = sorted(key for key, n in records.items() if n > 1)
        report.repeated_ids = {key: n for key, n in ids.items() if n > 1}
        return report

    def _error_rows(self, name: str) -> List[Dict[str, Any]]:
        path = self.path("errors", name)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines() if line.strip()]


def open_store(output: Path, settings: Dict[str, Any], input_root: Path) -> OutputStore:
    """The output folder for `settings`: a new one (manifest written), or the folder of an
    earlier run with the same settings, to resume.

    output (Path): The output folder.
    settings (Dict[str, Any]): The values of SETTINGS for this run.
    input_root (Path): The input file or folder.
    RETURNS (OutputStore): The store.
    """
    output = Path(output)
    if is_within(output, input_root):
        raise ValueError(Errors.E136.format(output=output, input=input_root))
    if is_within(input_root, output):
        raise ValueError(Errors.E110.format(output=output, input=input_root))
    if output.exists() and not output.is_dir():
        raise ValueError(Errors.E113.format(path=output, found="file", expected="directory"))
    manifest = output / MANIFEST
    if output.is_dir() and any(output.iterdir()):
        previous = _read_manifest(manifest)
        if previous is None:
            raise FileExistsError(Errors.E137.format(path=output))
        changed = [name for name in SETTINGS if previous.get("settings", {}).get(name) != settings[name]]
        if changed:
            shown = "; ".join(f"{name}: {previous.get('settings', {}).get(name)!r} then, {settings[name]!r} now"
                              for name in changed)
            raise ValueError(Errors.E138.format(path=output, changes=shown))
    else:
        with atomic_output(manifest) as tmp:
            tmp.write_text(json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "settings": settings}, indent=2)
                           + "\n", encoding="utf8")
    return OutputStore(output, docbins=bool(settings["docbins"]))


def _read_manifest(path: Path) -> Optional[Dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def examples(items: Iterable[str]) -> str:
    """The first few items, and how many more, for a message."""
    items = list(items)
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")
