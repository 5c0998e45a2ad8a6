"""Shared fixtures: the installed MiniLM encoder, offline."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def minilm_path():
    from spacy_relext.encoders import installed_encoder

    return installed_encoder()


@pytest.fixture(scope="session")
def minilm_tokenizer(minilm_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path, local_files_only=True, use_fast=True)
