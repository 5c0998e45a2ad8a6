"""Argument roles of a pair's region tokens, shared by the model's input builder
(`architectures.pair_index`) and the PyTorch module that embeds them."""

ROLES = ("none", "untyped", "typed")  # the `roles` settings of spacy-relext.RationaleMasker.v2
# Role of a region token for its pair: not an argument, in the head, in the tail, in both
# (nested or identical mentions): HEAD | TAIL == BOTH.
OTHER, HEAD, TAIL, BOTH = 0, 1, 2, 3
