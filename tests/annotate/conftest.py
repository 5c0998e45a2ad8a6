"""Fixtures of the annotate tests: the saved pipeline, and a local two-CPU Ray cluster."""
from pathlib import Path

import pytest
import spacy

from annotate_data import build_pipeline


@pytest.fixture(scope="session")
def pipeline_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("annotate") / "pipeline"
    build_pipeline().to_disk(path)
    return path


@pytest.fixture(scope="session")
def nlp(pipeline_dir):
    return spacy.load(pipeline_dir)


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster of two CPUs, started for the module and shut down after it: the
    engine finds it running and uses it (a user's `--address`)."""
    import ray

    # No dashboard (a web server and its processes) and a small object store: the tests
    # share two cores and pass only partition counts through it.
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 2**20)
    yield ray
    ray.shutdown()
