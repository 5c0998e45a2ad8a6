"""The input of `annotate`: files cut into partitions, and the records of one partition.

An input is one file or a folder (searched recursively, in sorted order) of
- `.jsonl` files: one JSON object a line, with a text field (`text`), an optional id
  field (`id`, a string or an integer) and any other fields, kept as metadata;
- `.parquet` files: a text column, an optional id column, other columns as metadata;
- `.spacy` DocBins: Docs annotated further (their id is `doc.user_data["id"]` when set);
- `.txt` files: one document each, its id the file's path relative to the input.

A partition is a fixed run of records of one file (a run of `.txt` files), named after
the file and its first record, so the same input cut with the same partition size always
gives the same partitions: that is what makes a rerun skip the finished ones and write
the others under the same names. Scanning reads each JSONL file once (to find where its
partitions start, so a worker seeks there instead of reading from the top), the footer
of each Parquet file, and each DocBin whole (DocBins are loaded whole anyway).

A record that cannot be annotated (empty text, a text or id of the wrong type, invalid
UTF-8, malformed JSON, a text over `max_chars`) is returned with `error` set, never
raised: the engines write it to the errors file with its reason.
"""
import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from ..errors import Errors

PathLike = Union[str, Path]
SUFFIXES = (".jsonl", ".parquet", ".spacy", ".txt")
# Bad-record reasons, as written to the errors file (what a user filters on).
EMPTY_TEXT = "empty_text"
WRONG_TYPE = "wrong_type"
INVALID_UTF8 = "invalid_utf8"
TOO_LONG = "too_long"
MALFORMED = "malformed_record"
PIPELINE_ERROR = "pipeline_error"
# A JSON line holds its text escaped (up to 6 bytes a character) beside its metadata:
# past this many bytes per allowed character it is too long before it is parsed.
JSON_BYTES_PER_CHAR = 6
JSON_LINE_SLACK = 1 << 16


@dataclass(frozen=True)
class Partition:
    """A run of records of one input file (or of `.txt` files), annotated and written as one.

    name (str): The output file stem, from the input file and the first record's index.
    kind (str): "jsonl", "parquet", "spacy" or "txt".
    path (str): The input file (for "txt", the input folder).
    start (int): Index of the first record in the file (for "txt", in the sorted file list).
    stop (int): Index after the last record.
    offset (int): "jsonl": byte offset of the first record's line; "parquet": row group.
    line (int): "jsonl": line number (from 1) at `offset`.
    files (Tuple[str, ...]): "txt": the files, relative to `path`.
    """

    name: str
    kind: str
    path: str
    start: int
    stop: int
    offset: int = 0
    line: int = 1
    files: Tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return self.stop - self.start

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Partition":
        return cls(**{**data, "files": tuple(data.get("files", ()))})


@dataclass
class Record:
    """One input record.

    key (str): Where it came from ("file:line", "file:row", "file:index" or the .txt path),
        unique in the input: the output checks exactly-once on it.
    doc_id (str): The record's id field, else `key`.
    text (Optional[str]): The text to annotate (None for a DocBin's Doc, or a bad record).
    doc (Any): The Doc of a DocBin record.
    meta (str): The other fields, as a JSON object ("{}" when none).
    error (Optional[str]): The reason it cannot be annotated (a module constant).
    detail (str): What exactly is wrong, for a person.
    """

    key: str
    doc_id: str
    text: Optional[str] = None
    doc: Any = None
    meta: str = "{}"
    error: Optional[str] = None
    detail: str = ""


@dataclass
class InputScan:
    """Every partition of an input, and what identifies the input's content."""

    root: Path
    partitions: List[Partition] = field(default_factory=list)
    fingerprint: str = ""

    @property
    def records(self) -> int:
        return sum(p.size for p in self.partitions)


def input_files(root: PathLike) -> List[Path]:
    """The files `annotate` reads: `root` itself, or the supported files under the folder.

    RETURNS (List[Path]): Sorted; E139 when there is none or `root` is missing.
    """
    root = Path(root)
    if root.is_file():
        if root.suffix not in SUFFIXES:
            raise ValueError(Errors.E139.format(path=root, reason=f"unsupported file type {root.suffix!r}"))
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(Errors.E139.format(path=root, reason="not found"))
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in SUFFIXES and not p.name.startswith("."))
    if not files:
        raise ValueError(Errors.E139.format(path=root, reason="no .jsonl, .parquet, .spacy or .txt file in it"))
    return files


def scan_input(root: PathLike, partition_size: int) -> InputScan:
    """Cut an input into partitions of at most `partition_size` records.

    root (Path): The input file or folder.
    partition_size (int): Records per partition.
    RETURNS (InputScan): The partitions in input order and the input's fingerprint.
    """
    root = Path(root).resolve()
    files = input_files(root)
    base = root if root.is_dir() else root.parent
    scan = InputScan(root=root, fingerprint=fingerprint(files, base))
    texts = [f for f in files if f.suffix == ".txt"]
    for path in files:
        rel = path.relative_to(base).as_posix()
        if path.suffix == ".jsonl":
            scan.partitions += _jsonl_partitions(path, rel, partition_size)
        elif path.suffix == ".parquet":
            scan.partitions += _parquet_partitions(path, rel, partition_size)
        elif path.suffix == ".spacy":
            n_docs = len(_read_docbin(path))
            scan.partitions += [Partition(_name(rel, start), "spacy", str(path), start,
                                          min(start + partition_size, n_docs))
                                for start in range(0, n_docs, partition_size)]
    rel_texts = [p.relative_to(base).as_posix() for p in texts]
    for start in range(0, len(rel_texts), partition_size):
        chunk = tuple(rel_texts[start : start + partition_size])
        scan.partitions.append(Partition(_name("txt", start), "txt", str(base), start, start + len(chunk), files=chunk))
    return scan


def fingerprint(files: Sequence[Path], base: Path) -> str:
    """What changes when an input file is added, removed, rewritten or touched."""
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(base).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode("utf8"))
    return digest.hexdigest()


def _name(rel: str, start: int) -> str:
    return f"{rel.replace('/', '__')}-{start:09d}"


def _jsonl_partitions(path: Path, rel: str, size: int) -> List[Partition]:
    starts: List[Tuple[int, int]] = []  # (byte offset, line number) of each partition's first record
    n_records = 0
    with path.open("rb") as f:
        offset, line = 0, 1
        while True:
            raw, length, blank = _read_line(f, keep=0)
            if not length:
                break
            if not blank:
                if n_records % size == 0:
                    starts.append((offset, line))
                n_records += 1
            offset += length
            line += 1
    stops = [k * size for k in range(1, len(starts))] + [n_records]
    return [Partition(_name(rel, k * size), "jsonl", str(path), k * size, stop, offset=offset, line=line)
            for k, ((offset, line), stop) in enumerate(zip(starts, stops))]


def _parquet_partitions(path: Path, rel: str, size: int) -> List[Partition]:
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(path).metadata
    partitions, first_row = [], 0
    # Partitions never cross a row group: a worker reads one row group, not the file.
    for group in range(metadata.num_row_groups):
        rows = metadata.row_group(group).num_rows
        for start in range(first_row, first_row + rows, size):
            stop = min(start + size, first_row + rows)
            partitions.append(Partition(_name(rel, start), "parquet", str(path), start, stop, offset=group))
        first_row += rows
    return partitions


def _read_line(f: BinaryIO, keep: int) -> Tuple[Optional[bytes], int, bool]:
    """The next line of a binary file, read in pieces so memory stays bounded however
    long it is.

    keep (int): Return the line's bytes only when it has at most this many.
    RETURNS (Tuple[Optional[bytes], int, bool]): The line (None when longer than `keep`),
        its length in bytes (0 at the end of the file) and whether it is blank.
    """
    pieces: List[bytes] = []
    length, blank = 0, True
    while True:
        piece = f.readline(JSON_LINE_SLACK)
        length += len(piece)
        blank = blank and not piece.strip()
        if length <= keep:
            pieces.append(piece)
        if not piece or piece.endswith(b"\n"):
            return (b"".join(pieces) if length <= keep else None), length, blank


def _read_docbin(path: Path) -> Any:
    """A DocBin file, loaded whole (its format has no index); kept while its partitions,
    read one after the other, need it, and read again if the file changes."""
    stat = path.stat()
    return _load_docbin(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=1)
def _load_docbin(path: Path, size: int, mtime_ns: int) -> Any:
    from spacy.tokens import DocBin

    return DocBin(store_user_data=True).from_disk(path)


def _docbin_slice(docbin: Any, start: int, stop: int) -> Any:
    """Docs start to stop of a DocBin, as a DocBin sharing its arrays: reading a partition
    deserializes its own Docs only, not every Doc before it."""
    from spacy.tokens import DocBin

    part = DocBin(store_user_data=docbin.store_user_data)
    part.attrs, part.strings = docbin.attrs, docbin.strings
    for name in ("tokens", "spaces", "cats", "flags", "span_groups", "user_data"):
        setattr(part, name, getattr(docbin, name)[start:stop])
    return part


def read_records(partition: Partition, *, text_field: str, id_field: str, max_chars: int, vocab: Any = None
                 ) -> Iterator[Record]:
    """The records of one partition, in input order, bad ones with `error` set.

    partition (Partition): What to read.
    text_field (str): The JSONL field or Parquet column holding the text.
    id_field (str): The JSONL field or Parquet column holding the id (optional in the data).
    max_chars (int): A longer text is a bad record (TOO_LONG).
    vocab (Vocab): The pipeline's vocabulary, for DocBin input.
    YIELDS (Record): `partition.size` records.
    """
    reader = {"jsonl": _jsonl_records, "parquet": _parquet_records, "spacy": _docbin_records, "txt": _txt_records}
    for record in reader[partition.kind](partition, text_field, id_field, max_chars, vocab):
        yield _checked(record, max_chars)


def _checked(record: Record, max_chars: int) -> Record:
    if record.error is not None:
        return record
    text = record.doc.text if record.doc is not None else record.text
    if not isinstance(text, str):
        return _bad(record, WRONG_TYPE, f"the text is {_type_name(text)}, not a string")
    if not text.strip():
        return _bad(record, EMPTY_TEXT, "the text is empty" if not text else "the text is only whitespace")
    if len(text) > max_chars:
        return _bad(record, TOO_LONG, f"{len(text):,} characters, more than --max-chars {max_chars:,}")
    return record


def _bad(record: Record, reason: str, detail: str) -> Record:
    record.text, record.doc, record.error, record.detail = None, None, reason, detail
    return record


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _id_of(value: Any, key: str) -> Tuple[str, Optional[str]]:
    """(doc_id, problem) of an id field value; a missing id is the record's key."""
    if value is None:
        return key, None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return key, f"the id is {_type_name(value)}, not a string or an integer"
    return str(value), None


def _jsonl_records(partition: Partition, text_field: str, id_field: str, max_chars: int, vocab: Any
                   ) -> Iterator[Record]:
    # past this many bytes a line is too long before it is decoded or parsed
    line_limit = JSON_LINE_SLACK + JSON_BYTES_PER_CHAR * max_chars
    path = Path(partition.path)
    with path.open("rb") as f:
        f.seek(partition.offset)
        line, n = partition.line - 1, 0
        while n < partition.size:
            raw, length, blank = _read_line(f, keep=line_limit)
            line += 1
            if not length:
                break  # the file was cut short since the scan: the final check counts what is missing
            if blank:
                continue  # blank lines are no records (the scan skipped them too)
            n += 1
            key = f"{path.name}:{line}"
            if raw is None:
                yield Record(key, key, error=TOO_LONG, detail=f"a JSON line of {length:,} bytes")
            else:
                yield _json_record(raw, key, text_field, id_field, first_line=line == 1)


def _json_record(raw: bytes, key: str, text_field: str, id_field: str, *, first_line: bool) -> Record:
    try:
        line = raw.decode("utf-8-sig" if first_line else "utf-8")
    except UnicodeDecodeError as e:
        return Record(key, key, error=INVALID_UTF8, detail=f"byte {e.start} of the line cannot be decoded")
    try:
        data = json.loads(line)
    except json.JSONDecodeError as e:
        return Record(key, key, error=MALFORMED, detail=f"not JSON: {e.msg} at column {e.colno}")
    if not isinstance(data, dict):
        return Record(key, key, error=WRONG_TYPE, detail=f"the record is a JSON {_type_name(data)}, not an object")
    doc_id, problem = _id_of(data.get(id_field), key)
    if problem:
        return Record(key, key, error=WRONG_TYPE, detail=problem)
    if text_field not in data:
        return Record(key, doc_id, error=MALFORMED, detail=f"no field {text_field!r}")
    meta = {k: v for k, v in data.items() if k not in (text_field, id_field)}
    return Record(key, doc_id, text=data[text_field], meta=json.dumps(meta, ensure_ascii=False))


def _parquet_records(partition: Partition, text_field: str, id_field: str, max_chars: int, vocab: Any
                     ) -> Iterator[Record]:
    import pyarrow.parquet as pq

    path = Path(partition.path)
    table = pq.ParquetFile(path).read_row_group(partition.offset)
    first = partition.start - _row_group_start(path, partition.offset)
    table = table.slice(first, partition.size)
    names = table.column_names
    meta_names = [n for n in names if n not in (text_field, id_field)]
    texts = table.column(text_field).to_pylist() if text_field in names else None
    ids = table.column(id_field).to_pylist() if id_field in names else [None] * table.num_rows
    metas = table.select(meta_names).to_pylist() if meta_names else [{}] * table.num_rows
    for i in range(table.num_rows):
        key = f"{path.name}:{partition.start + i}"
        doc_id, problem = _id_of(ids[i], key)
        if problem:
            yield Record(key, key, error=WRONG_TYPE, detail=problem)
        elif texts is None:
            yield Record(key, doc_id, error=MALFORMED, detail=f"no column {text_field!r}")
        else:
            text = texts[i]
            if isinstance(text, bytes):  # a binary column: its bytes must be UTF-8 text
                try:
                    text = text.decode("utf-8")
                except UnicodeDecodeError as e:
                    yield Record(key, doc_id, error=INVALID_UTF8, detail=f"byte {e.start} cannot be decoded")
                    continue
            yield Record(key, doc_id, text=text, meta=json.dumps(metas[i], ensure_ascii=False, default=str))


def _row_group_start(path: Path, group: int) -> int:
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(path).metadata
    return sum(metadata.row_group(g).num_rows for g in range(group))


def _docbin_records(partition: Partition, text_field: str, id_field: str, max_chars: int, vocab: Any
                    ) -> Iterator[Record]:
    path = Path(partition.path)
    docs = _docbin_slice(_read_docbin(path), partition.start, partition.stop).get_docs(vocab)
    for i, doc in enumerate(docs, start=partition.start):
        key = f"{path.name}:{i}"
        doc_id, problem = _id_of(doc.user_data.get(id_field), key)
        if problem:
            yield Record(key, key, error=WRONG_TYPE, detail=problem)
        else:
            yield Record(key, doc_id, doc=doc)


def _txt_records(partition: Partition, text_field: str, id_field: str, max_chars: int, vocab: Any
                 ) -> Iterator[Record]:
    base = Path(partition.path)
    for rel in partition.files:
        data = (base / rel).read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = data.count(b"\n", 0, e.start) + 1
            yield Record(rel, rel, error=INVALID_UTF8, detail=f"byte {e.start} (line {line}) cannot be decoded")
            continue
        yield Record(rel, rel, text=text)
