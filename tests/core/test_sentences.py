"""Sentence lookup shared by the pair components: the vectorised `sentence_starts`
(issue 24 item 3) gives the token-loop implementation's result on every kind of Doc."""
import random

import pytest
import spacy
from spacy.tokens import Doc

from spacy_relext.entities import sentence_spans, sentence_starts


def token_loop_sentence_starts(doc):
    """The implementation before issue 24, kept here as the reference."""
    if len(doc) == 0:
        return []
    if not doc.has_annotation("SENT_START"):
        return [0]
    return [token.i for token in doc if token.i == 0 or token.is_sent_start]


def random_docs(vocab, seed, n=200):
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        length = rng.randint(0, 30)
        words = [f"w{i}" for i in range(length)]
        kind = rng.choice(["none", "bool", "mixed", "parse"])
        if kind == "none" or not length:
            docs.append(Doc(vocab, words=words))
        elif kind == "parse":
            # a dependency parse: sentence boundaries come from the heads
            heads, root = [], 0
            for i in range(length):
                if i == 0 or rng.random() < 0.2:
                    root = i
                heads.append(root)
            docs.append(Doc(vocab, words=words, heads=heads, deps=["dep" if h != i else "ROOT"
                                                                  for i, h in enumerate(heads)]))
        else:
            choices = [True, False] + ([None] if kind == "mixed" else [])
            docs.append(Doc(vocab, words=words, sent_starts=[rng.choice(choices) for _ in words]))
    return docs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sentence_starts_match_the_token_loop(seed):
    vocab = spacy.blank("en").vocab
    for doc in random_docs(vocab, seed):
        assert sentence_starts(doc) == token_loop_sentence_starts(doc)
        assert all(isinstance(i, int) for i in sentence_starts(doc))


def test_sentence_spans_of_sentencizer_docs_match_doc_sents():
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    doc = nlp("Alice works for Acme . Bob lives in Rome ! Carol ?")
    assert [s.text for s in sentence_spans(doc)] == [s.text for s in doc.sents]
    assert sentence_starts(doc) == token_loop_sentence_starts(doc)
