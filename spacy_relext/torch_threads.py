"""Process-level torch settings shared by every torch module of the package."""
import os

import torch


def _single_thread_after_fork() -> None:
    # A process forked after torch's OpenMP pool started (nlp.pipe(n_process=2)) hangs
    # in its first parallel region; the parallelism there comes from the processes.
    torch.set_num_threads(1)


os.register_at_fork(after_in_child=_single_thread_after_fork)
