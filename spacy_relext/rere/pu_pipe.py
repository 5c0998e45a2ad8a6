"""`PULossPipe`: what RERE's two components share on top of `RelationPipe`.

The settings of the cPU / BCE loss (`loss`, `gamma`, `tau`) and the prior `pi` in
`cfg`, their validation and the loss call. Neither component reads entity mentions,
so both derive from `RelationPipe` directly.
"""

from typing import Any, Callable, Optional, Tuple

from spacy.vocab import Vocab
from thinc.api import Model
from thinc.types import Floats2d

from ..errors import Errors
from .pu_loss import LOSSES, check_loss_name, cpu_mu, loss_and_gradient
from ..relation_pipe import NUMBER, RelationPipe, one_of



class PULossPipe(RelationPipe):
    """Base of `relation_detector` and `span_extractor`: a RelationPipe trained with
    the collective PU loss or BCE. Subclasses set `cfg["prior"]` at initialize.
    """

    CFG_SCHEMA = {**RelationPipe.CFG_SCHEMA, "loss": one_of(LOSSES), "gamma": NUMBER, "tau": NUMBER, "prior": NUMBER}

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str,
        *,
        threshold: float,
        loss: str,
        gamma: float,
        tau: float,
        scorer: Optional[Callable] = None,
        **cfg: Any,
    ) -> None:
        """Validate the loss settings (E600, E602, E604) and initialize the pipe.

        threshold (float): Decision threshold, in [0, 1].
        loss (str): "cpu" or "bce".
        gamma (float): cPU weight of the positive term, > 0.
        tau (float): cPU assumed false-negative ratio, >= 0.
        **cfg: Further component settings, stored in `cfg`.
        """
        check_loss_name(loss)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(Errors.E602.format(name="threshold", value=threshold))
        if tau < 0 or gamma <= 0:
            raise ValueError(Errors.E604.format(value=tau, gamma=gamma))
        super().__init__(
            vocab,
            model,
            name,
            threshold=threshold,
            scorer=scorer,
            loss=loss,
            gamma=gamma,
            tau=tau,
            prior=0.0,
            **cfg,
        )

    def pu_loss(self, scores: Floats2d, truths: Floats2d, mask: Optional[Floats2d] = None) -> Tuple[float, Floats2d]:
        """The configured loss of (n_samples, n_items) logits and its gradient, with
        `mu = prior * (tau + 1)`.

        RETURNS (Tuple[float, Floats2d]): The loss and d_scores.
        """
        mu = cpu_mu(self.cfg["prior"], self.cfg["tau"])
        return loss_and_gradient(self.cfg["loss"], scores, truths, mask, gamma=self.cfg["gamma"], mu=mu)
