"""Annotate partitions with a loaded pipeline and write each one when it is complete.

Both engines run this: the local engine over every unfinished partition in one
`nlp.pipe` stream (so `n_process` worker processes start once, not once a partition),
each Ray actor over the one partition it is handed. Records go into `nlp.pipe` with
their partition and key as context; `nlp.pipe` keeps their order, so a partition is
complete when a Doc of a later one comes out (or the stream ends), and is written then.
Memory holds the partition being collected, not the corpus.

A component that raises on a batch does not stop the job: spaCy's error handler drops
the batch, and its records are written to the errors file (PIPELINE_ERROR) when their
partition is written; in one process the reason is the component's exception.
"""
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc, DocBin

from .corpus import PIPELINE_ERROR, Partition, Record, read_records
from .rows import document_row, error_row, relation_rows
from .store import OutputStore, PartitionSummary

Progress = Callable[[int], None]


@dataclass
class ReadSettings:
    """How records are read (the same in the driver and on every worker)."""

    text_field: str = "text"
    id_field: str = "id"
    max_chars: int = 1_000_000


@dataclass
class _PartitionBuffer:
    partition: Partition
    index: int
    docbin: Optional[DocBin]
    sent: Dict[str, Record] = field(default_factory=dict)  # records given to nlp.pipe, by key
    relations: List[Dict[str, Any]] = field(default_factory=list)
    documents: List[Dict[str, Any]] = field(default_factory=list)
    errors: List[Dict[str, Any]] = field(default_factory=list)

    def add(self, key: str, doc: Doc) -> None:
        record = self.sent.pop(key)
        rows = relation_rows(doc, record.doc_id)
        self.relations += rows
        self.documents.append(document_row(record, doc, len(rows), self.partition.name))
        if self.docbin is not None:
            doc.user_data["id"] = record.doc_id
            self.docbin.add(doc)


def annotate_partitions(nlp: Language, partitions: Iterable[Partition], store: OutputStore, settings: ReadSettings,
                        *, batch_size: int = 64, n_process: int = 1, worker: str = "",
                        progress: Optional[Progress] = None) -> Iterator[PartitionSummary]:
    """Annotate partitions in order and write each; yield their summaries as they are written.

    nlp (Language): The pipeline.
    partitions (Iterable[Partition]): What to annotate (finished ones already left out).
    store (OutputStore): Where to write.
    settings (ReadSettings): How to read the records.
    batch_size (int): Docs per batch of nlp.pipe.
    n_process (int): Processes of nlp.pipe.
    worker (str): Who annotated, recorded in the summaries.
    progress (Callable[[int], None]): Called with the number of records each time some
        are done (annotated or found bad).
    YIELDS (PartitionSummary): One per partition, once its parts are written.
    """
    report = progress or (lambda n: None)
    failures: Dict[str, str] = {}

    def record_failure(name: Optional[str], proc: Any, docs: Optional[List[Doc]], error: Exception) -> None:
        for doc in docs or []:
            context = getattr(doc, "_context", None)
            if context is not None:
                failures[context[1]] = f"component {name!r} raised {type(error).__name__}: {error}"

    nlp.set_error_handler(record_failure)
    nlp.max_length = max(nlp.max_length, settings.max_chars)  # longer texts are bad records before this
    pending: Deque[_PartitionBuffer] = deque()

    def feed() -> Iterator[Tuple[Any, Tuple[int, str]]]:
        for index, partition in enumerate(partitions):
            buffer = _PartitionBuffer(partition, index, DocBin(store_user_data=True) if store.docbins else None)
            pending.append(buffer)
            for record in read_records(partition, text_field=settings.text_field, id_field=settings.id_field,
                                       max_chars=settings.max_chars, vocab=nlp.vocab):
                if record.error is not None:
                    buffer.errors.append(error_row(record, partition.name))
                    report(1)
                else:
                    buffer.sent[record.key] = record
                    yield (record.doc if record.doc is not None else record.text), (index, record.key)

    def finish(buffer: _PartitionBuffer) -> PartitionSummary:
        for record in buffer.sent.values():  # dropped by the error handler
            record.error = PIPELINE_ERROR
            record.detail = failures.pop(record.key, "dropped by the pipeline: a component raised an error on its "
                                                     "batch (in a worker process, whose message is in its log)")
            buffer.errors.append(error_row(record, buffer.partition.name))
        report(len(buffer.sent))
        docbin = buffer.docbin.to_bytes() if buffer.docbin is not None else None
        store.write_partition(buffer.partition.name, buffer.relations, buffer.documents, buffer.errors, docbin)
        return PartitionSummary(buffer.partition.name, documents=len(buffer.documents),
                                relations=len(buffer.relations), errors=len(buffer.errors), worker=worker)

    for doc, (index, key) in nlp.pipe(feed(), as_tuples=True, batch_size=batch_size, n_process=n_process):
        while pending[0].index < index:
            yield finish(pending.popleft())
        pending[0].add(key, doc)
        report(1)
    while pending:
        yield finish(pending.popleft())
