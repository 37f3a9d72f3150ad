"""What leaves an edge after it trained a round: its update with the run's protections
applied in order (differential privacy's clipping and noise, then secure aggregation's
masks) in the message that carries it; and those protections set up when it joins."""

from __future__ import annotations

from app.core.edge_runs import EdgeRun
from app.core.privacy import privatize
from app.core.run.protocol import finite_figures
from app.wire.messages import Message, MessageType


def arm(run: EdgeRun, node: str) -> list[str]:
    """The run's protections made ready on joining; what the edge's log says of them."""
    said = []
    privacy = run.config.privacy
    if privacy.enabled:
        said.append(
            f"differential privacy: each update's change is clipped to {privacy.clip_norm:g} "
            f"and noised (std {privacy.noise_multiplier * privacy.clip_norm:g}) here"
        )
    if run.config.secure_aggregation.enabled:
        from app.core.secagg.masking import EdgeSecrets

        run.secagg = EdgeSecrets(run.address.job_id, node)
        said.append("secure aggregation: updates leave this edge masked")
    return said


def update_message(
    run: EdgeRun,
    rnd: int,
    update: dict,
    reference: dict | None,
    seed: int,
    round_body: dict,
    evaluation: dict | None,
    trained: dict[str, float],
) -> Message:
    """The round's update as it is sent (`trained` gains the change's norm under DP)."""
    body = {"num_samples": run.samples, "device": str(run.device)}
    if evaluation:
        body["eval"] = finite_figures(evaluation)[0]
    privacy = run.config.privacy
    if reference is not None:  # clipped and noised before it leaves this edge
        update, norm = privatize(
            update, reference, privacy.clip_norm, privacy.noise_multiplier, seed
        )
        trained["dp_update_norm"] = norm
    if run.secagg is not None:  # masked last: the server may only ever sum it
        from app.core.secagg.secure_sum import MASKED

        masked, body["shares"] = run.secagg.mask(rnd, round_body.get("secagg"), update, run.samples)
        update = {MASKED: masked}
        del body["num_samples"]  # inside the masked sum
    return Message(
        MessageType.MODEL_UP, job_id=run.address.job_id, round=rnd, body=body, tensors=update
    )
