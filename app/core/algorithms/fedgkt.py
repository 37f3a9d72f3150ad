"""FedGKT (He et al. 2020): edges train a small CNN and send the server features, logits and
labels; the server trains a larger model on the features, distilling from the edges'
logits, and sends its own logits back, which the edges distil from. Its rounds are their
own protocol ("gkt": app/core/gkt); here it only registers, with what it reads."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.algorithms.registry import Algorithm, register


@dataclass(frozen=True)
class GroupKnowledgeTransfer:
    spec: object  # the config's [algorithm] table: temperature, alpha, server_epochs


register(
    Algorithm(
        "fedgkt",
        "FedGKT (He et al. 2020)",
        "edges train a small CNN and send features and logits; the server trains a large "
        "model on them and sends its logits back to distil from",
        ("temperature", "alpha", "server_epochs"),
        GroupKnowledgeTransfer,
        role="gkt",
    )
)
