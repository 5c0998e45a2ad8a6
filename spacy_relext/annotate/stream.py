"""Annotate partitions with a loaded pipeline and write each one when it is complete.

Both engines run this: the local engine over every unfinished partition in one
`nlp.pipe` stream (so `n_process` worker processes start once, not once a partition),
each Ray actor over the one partition it is handed. Records go into `nlp.pipe` with
their partition and key as context; `nlp.pipe` keeps their order, so a partition is
complete when a Doc of a later one comes out (or the stream ends), and is written then.
Memory holds the partition being collected, not the corpus.

A component that raises does not stop the job. In one process, a batch that fails is run
again one document at a time, and the documents that fail alone become bad records
(PIPELINE_ERROR) with the exception as their reason. With `n_process` > 1, spaCy's worker
processes send the error back instead of the batch, and the records of that batch become
bad records when their partition is written. (spaCy's per-component error handlers are not
used: its Cython components, `ner` and `parser`, cannot take one.)
"""
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.util import minibatch

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
    failures: Dict[str, str] = {}  # record key -> why the pipeline failed on it
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
            record.detail = failures.pop(record.key, "a component raised an error on its batch in an nlp.pipe worker "
                                                     "process (the error is in the log)")
            buffer.errors.append(error_row(record, buffer.partition.name))
        report(len(buffer.sent))
        docbin = buffer.docbin.to_bytes() if buffer.docbin is not None else None
        store.write_partition(buffer.partition.name, buffer.relations, buffer.documents, buffer.errors, docbin)
        return PartitionSummary(buffer.partition.name, documents=len(buffer.documents),
                                relations=len(buffer.relations), errors=len(buffer.errors), worker=worker)

    for doc, (index, key) in _pipe(nlp, feed(), batch_size, n_process, failures):
        while pending[0].index < index:
            yield finish(pending.popleft())
        pending[0].add(key, doc)
        report(1)
    while pending:
        yield finish(pending.popleft())


Item = Tuple[Any, Tuple[int, str]]  # (text or Doc, (partition index, record key))


def _pipe(nlp: Language, items: Iterator[Item], batch_size: int, n_process: int, failures: Dict[str, str]
          ) -> Iterator[Tuple[Doc, Tuple[int, str]]]:
    """(Doc, context) of each item, in order, less those the pipeline failed on (in one
    process their reason goes into `failures`, by record key)."""
    if n_process > 1:
        # A worker's error reaches the parent's default handler: ignored, the batch's
        # records are then missing from their partition and written as bad records.
        nlp.default_error_handler = _ignore_error
        yield from nlp.pipe(items, as_tuples=True, batch_size=batch_size, n_process=n_process)
        return
    for batch in minibatch(items, batch_size):
        inputs, contexts = [item for item, _ in batch], [context for _, context in batch]
        try:
            docs: List[Optional[Doc]] = list(nlp.pipe(inputs, batch_size=batch_size))
        except Exception:  # the pipeline's own code, on data we do not control
            docs = []
            for item, (_, key) in batch:
                try:
                    docs.append(nlp(item))
                except Exception as e:
                    failures[key] = f"the pipeline raised {type(e).__name__}: {e}"
                    docs.append(None)
        for doc, context in zip(docs, contexts):
            if doc is not None:
                yield doc, context


def _ignore_error(name: Optional[str], proc: Any, docs: Any, error: Exception) -> None:
    """spaCy's error handler signature, doing nothing (see `_pipe`)."""
