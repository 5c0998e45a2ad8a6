"""The Ray Data engine of `annotate`: partitions handed to a pool of actors, one pipeline each.

The driver makes a Ray dataset of the unfinished partitions (one block each, so each is
one task), and `map_batches` hands them to an actor pool: every actor loads the pipeline
once (by path, which every node must see, e.g. on a shared file system, or by installed
package name), reads its partition from the input itself, annotates it and writes its
parts into the output folder (also shared), and returns only the partition's counts.
Reading and writing thus run in parallel on the workers; the driver holds no text.

Ray Data restarts a dead actor and retries its task. A retried partition is written
again under the same names, through `atomic_output`, so a worker killed at any point
leaves neither a partial part nor a second copy: exactly once holds across failures, and
the final check reads it back.
"""
import json
import os
import socket
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..errors import Errors
from .corpus import Partition
from .store import OutputStore, PartitionSummary
from .stream import ReadSettings, annotate_partitions


class PartitionAnnotator:
    """A Ray Data actor: the pipeline, loaded once, applied to one partition per call."""

    def __init__(self, pipeline: str, output: str, docbins: bool, settings: Dict[str, Any], batch_size: int,
                 threads: int, use_gpu: bool) -> None:
        import spacy

        if use_gpu:
            spacy.require_gpu()
        try:
            import torch

            torch.set_num_threads(max(1, threads))  # the CPUs Ray reserved for this actor, no more
        except ImportError:
            pass
        self.nlp = spacy.load(pipeline)
        self.store = OutputStore(Path(output), docbins=docbins)
        self.settings = ReadSettings(**settings)
        self.batch_size = batch_size
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, List[Any]]:
        partitions = [Partition.from_dict(json.loads(text)) for text in batch["partition"]]
        summaries = list(annotate_partitions(self.nlp, partitions, self.store, self.settings,
                                             batch_size=self.batch_size, worker=self.worker))
        return {name: [getattr(s, name) for s in summaries]
                for name in ("name", "documents", "relations", "errors", "worker")}


def run_ray(pipeline: str, partitions: List[Partition], store: OutputStore, settings: ReadSettings, *,
            address: Optional[str] = None, workers: Optional[int] = None, cpus_per_worker: float = 1.0,
            gpus_per_worker: float = 0.0, batch_size: int = 64,
            on_partition: Optional[Callable[[PartitionSummary], None]] = None) -> List[PartitionSummary]:
    """Annotate partitions on a Ray cluster: the one this process is connected to, the one
    at `address`, or a new local one (shut down at the end).

    pipeline (str): Pipeline directory or installed package name, as every worker sees it.
    partitions (List[Partition]): The unfinished partitions.
    store (OutputStore): The output folder, as every worker sees it.
    settings (ReadSettings): How records are read.
    address (str): Cluster address ("auto", "ray://host:10001", ...); None starts a local cluster.
    workers (int): Actors in the pool (default: the cluster's CPUs, or GPUs when
        gpus_per_worker > 0, divided by what one actor takes).
    cpus_per_worker (float): CPUs reserved per actor (its torch threads too).
    gpus_per_worker (float): GPUs reserved per actor (> 0: the pipeline runs on GPU).
    batch_size (int): Docs per batch of nlp.pipe on each actor.
    on_partition (Callable[[PartitionSummary], None]): Called as each partition is written.
    RETURNS (List[PartitionSummary]): One per partition, in the order they finished.
    """
    try:
        import ray
        from ray.data import ActorPoolStrategy, DataContext
    except ImportError:
        raise ImportError(Errors.E143) from None
    started = not ray.is_initialized()
    if started:
        # A local cluster's dashboard is a web server and more processes: not what a batch
        # job needs. An existing cluster keeps its own settings (Ray refuses them then).
        ray.init(address=address, **({} if address else {"include_dashboard": False}))
    summaries: List[PartitionSummary] = []
    try:
        if not partitions:
            return summaries
        resources = ray.cluster_resources()
        if workers is None:
            per, total = (gpus_per_worker, resources.get("GPU", 0)) if gpus_per_worker else (cpus_per_worker,
                                                                                              resources.get("CPU", 1))
            workers = max(1, int(total // per))
        workers = min(workers, len(partitions))
        DataContext.get_current().enable_progress_bars = False  # the command shows its own bar
        dataset = ray.data.from_items([{"partition": json.dumps(p.to_dict())} for p in partitions],
                                      override_num_blocks=len(partitions))
        annotated = dataset.map_batches(
            PartitionAnnotator,
            batch_size=1,
            compute=ActorPoolStrategy(size=workers),
            num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker or None,
            fn_constructor_kwargs={"pipeline": pipeline, "output": str(store.root), "docbins": store.docbins,
                                   "settings": vars(settings), "batch_size": batch_size,
                                   "threads": int(cpus_per_worker), "use_gpu": gpus_per_worker > 0},
        )
        for row in annotated.iter_rows():
            summary = PartitionSummary(**{key: row[key] for key in ("name", "documents", "relations", "errors",
                                                                    "worker")})
            summaries.append(summary)
            if on_partition is not None:
                on_partition(summary)
    finally:
        if started:
            ray.shutdown()
    return summaries
