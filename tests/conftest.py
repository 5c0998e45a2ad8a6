import pytest
import torch


@pytest.fixture(scope="module")
def torch_single_thread():
    """Tiny tensors: one torch thread is much faster on busy shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
