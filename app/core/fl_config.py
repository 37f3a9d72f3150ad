"""The training configuration: model, dataset, partitioning, algorithm, hyperparameters.

A config is plain TOML on disk and JSON in the database; this module is the one validator
for both. Unknown keys are refused so that a typo never silently falls back to a default.
"""

from __future__ import annotations

import math
import tomllib
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.core.algorithms import ALGORITHMS
from app.core.algorithms.registry import SERVER
from app.core.algorithms.robust import RULES, krum_needs
from app.core.names import NAME_RULE
from app.errors import InvalidInput

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Strict):
    kind: Literal["logreg", "mlp", "cnn"] = "mlp"
    hidden: list[Annotated[int, Field(ge=1, le=4096)]] = Field(default=[64], max_length=8)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


class DatasetSpec(_Strict):
    name: Literal["digits", "mnist1d", "synthetic"] = "digits"
    test_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    samples: int = Field(default=2000, ge=100, le=1_000_000, description="synthetic/mnist1d size")


class PartitionSpec(_Strict):
    kind: Literal["iid", "dirichlet", "shards"] = "iid"
    alpha: float = Field(default=0.5, gt=0.0, description="Dirichlet concentration")
    shards_per_client: int = Field(default=2, ge=1)
    seed: int = Field(default=0, ge=0)


class AlgorithmSpec(_Strict):
    name: Literal[tuple(ALGORITHMS)] = "fedavg"  # type: ignore[valid-type]
    mu: float = Field(default=0.01, ge=0.0, description="FedProx proximal weight")
    server_lr: float = Field(default=1.0, gt=0.0)
    server_momentum: float = Field(default=0.9, ge=0.0, lt=1.0)
    beta1: float = Field(default=0.9, ge=0.0, lt=1.0)
    beta2: float = Field(default=0.99, ge=0.0, lt=1.0)
    tau: float = Field(default=1e-3, gt=0.0)
    # How a round's updates are combined before the strategy: algorithms/robust.py.
    aggregation: Literal[RULES] = "mean"  # type: ignore[valid-type]
    trim_fraction: float = Field(
        default=0.1, ge=0.0, lt=0.5, description="trimmed_mean: dropped at each end"
    )
    byzantine: int = Field(default=1, ge=0, le=100, description="krum: hostile updates borne")
    norm_bound: float | None = Field(
        default=None, gt=0.0, description="an update's change from the global model, at most"
    )
    # FedGKT: knowledge distillation both ways (app/core/gkt)
    temperature: float = Field(default=3.0, gt=0.0, le=100.0, description="fedgkt: softmax T")
    alpha: float = Field(default=1.0, ge=0.0, le=100.0, description="fedgkt: weight of KD")
    server_epochs: int = Field(default=1, ge=1, le=100, description="fedgkt: server's epochs")


class PrivacySpec(_Strict):
    """Differential privacy (app/core/privacy.py): on when noise_multiplier > 0."""

    noise_multiplier: float = Field(
        default=0.0, ge=0.0, le=100.0, description="noise std / clip_norm; 0: off"
    )
    clip_norm: float = Field(default=1.0, gt=0.0, description="an update's change, at most")
    delta: float = Field(default=1e-5, gt=0.0, lt=1.0, description="epsilon is at this delta")

    @property
    def enabled(self) -> bool:
        return self.noise_multiplier > 0


class SecureAggregationSpec(_Strict):
    """Secure aggregation (app/core/secagg): the server learns only the sum of the updates."""

    enabled: bool = False
    max_dropout: float = Field(
        default=0.3,
        ge=0.0,
        le=0.5,
        description="the share of a round's edges that may drop out and be recovered",
    )


class DecentralizedSpec(_Strict):
    """The trust graph of a server-free algorithm's run (app/core/peer/graph.py)."""

    graph: Literal["ring", "exponential", "watts_strogatz", "links"] = "ring"
    random_links: int = Field(
        default=0, ge=0, le=10_000, description="extra links a → b drawn at random"
    )
    neighbours: int = Field(default=4, ge=2, le=64, description="watts_strogatz: ring degree")
    rewire: float = Field(default=0.2, ge=0.0, le=1.0, description="watts_strogatz: p")
    seed: int = Field(default=0, ge=0, description="draws random links and rewiring")
    links: list[tuple[Name, Name]] = Field(
        default_factory=list, max_length=100_000, description="graph 'links': [from, to] edges"
    )
    peer_timeout_s: float = Field(
        default=60.0, gt=0.0, description="a round's wait for an in-neighbour's model"
    )


class TrainingSpec(_Strict):
    rounds: int = Field(default=20, ge=1, le=100_000)
    local_epochs: int = Field(default=1, ge=1, le=1000)
    batch_size: int = Field(default=32, ge=1, le=65_536)
    lr: float = Field(default=0.05, gt=0.0, le=10.0)
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0, description="SGD only")
    nesterov: bool = Field(default=False, description="SGD with momentum only")
    weight_decay: float = Field(default=0.0, ge=0.0, le=1.0)
    lr_schedule: Literal["constant", "step", "cosine"] = "constant"
    lr_step_rounds: int = Field(default=10, ge=1, description="step: decay every N rounds")
    lr_gamma: float = Field(default=0.5, gt=0.0, le=1.0, description="step: the decay factor")
    lr_min: float = Field(default=0.0, ge=0.0, description="cosine: the last round's lr")
    grad_clip: float | None = Field(default=None, gt=0.0, description="max gradient L2 norm")
    device: str = Field(
        default="auto",
        pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$",
        description="auto: the edge's GPU when it has one",
    )
    eval_every: int = Field(
        default=1, ge=0, description="federated evaluation every N rounds (0: never)"
    )
    fraction_fit: float = Field(default=1.0, gt=0.0, le=1.0)
    min_clients: int = Field(default=1, ge=1)
    round_timeout_s: float = Field(default=120.0, gt=0.0)
    seed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> TrainingSpec:
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError("nesterov needs optimizer 'sgd' with momentum > 0")
        if self.lr_schedule == "cosine" and self.lr_min >= self.lr:
            raise ValueError("lr_min must be below lr for a cosine schedule")
        return self

    def edge_seed(self, rnd: int, partition: int) -> int:
        """The seed of an edge's training in round `rnd`: the same for every protocol and
        for the same model trained alone on that edge's partition."""
        return self.seed * 100_003 + rnd * 101 + partition

    def lr_at(self, rnd: int) -> float:
        """The learning rate of round `rnd` (1-based) under the schedule."""
        if self.lr_schedule == "step":
            return self.lr * self.lr_gamma ** ((rnd - 1) // self.lr_step_rounds)
        if self.lr_schedule == "cosine":
            progress = (rnd - 1) / max(self.rounds - 1, 1)
            return self.lr_min + (self.lr - self.lr_min) * (1 + math.cos(math.pi * progress)) / 2
        return self.lr


class TaskRef(_Strict):
    """The task the config federates: a stored task by name (and version, else the latest
    when a job is created), or, without a name, the built-in task of `dataset.name`."""

    name: Name | None = None
    version: int | None = Field(default=None, ge=1)
    params: dict[str, Any] = Field(
        default_factory=dict, description="hyperparameters over the task's defaults"
    )


class FLConfig(_Strict):
    name: Name
    description: str = ""
    model: ModelSpec = ModelSpec()
    dataset: DatasetSpec = DatasetSpec()
    partitioning: PartitionSpec = PartitionSpec()
    algorithm: AlgorithmSpec = AlgorithmSpec()
    training: TrainingSpec = TrainingSpec()
    privacy: PrivacySpec = PrivacySpec()
    secure_aggregation: SecureAggregationSpec = SecureAggregationSpec()
    decentralized: DecentralizedSpec = DecentralizedSpec()
    task: TaskRef = TaskRef()

    @property
    def task_name(self) -> str:
        return self.task.name or self.dataset.name

    @model_validator(mode="after")
    def _consistent(self) -> FLConfig:
        if self.model.kind == "cnn" and self.dataset.name == "synthetic":
            raise ValueError("model.kind 'cnn' needs an image-like dataset (digits or mnist1d)")
        algorithm = self.algorithm
        if algorithm.aggregation in ("krum", "multi_krum"):
            need = krum_needs(algorithm.byzantine)
            if self.training.min_clients < need:
                raise ValueError(
                    f"algorithm.aggregation {algorithm.aggregation!r} with byzantine = "
                    f"{algorithm.byzantine} needs training.min_clients of at least {need}"
                )
        if ALGORITHMS[algorithm.name].role != SERVER:
            server_only = [
                what
                for what, on in (
                    ("secure_aggregation", self.secure_aggregation.enabled),
                    ("privacy", self.privacy.enabled),
                    (
                        f"algorithm.aggregation {algorithm.aggregation!r}",
                        algorithm.aggregation != "mean",
                    ),
                    ("algorithm.norm_bound", algorithm.norm_bound is not None),
                )
                if on
            ]
            if server_only:
                raise ValueError(
                    f"{', '.join(server_only)} apply to the FedAvg family's server rounds, "
                    f"not to algorithm {algorithm.name!r}"
                )
        if algorithm.name == "fedgkt" and (
            self.task.name not in (None, self.dataset.name) or self.dataset.name == "synthetic"
        ):
            raise ValueError(
                "fedgkt trains a CNN FedDeck builds on the edges: it needs a built-in image or "
                "sequence task (dataset.name 'digits' or 'mnist1d', no task.name)"
            )
        if self.decentralized.graph == "links" and not self.decentralized.links:
            raise ValueError("decentralized.graph 'links' needs decentralized.links")
        if self.secure_aggregation.enabled:
            if algorithm.aggregation != "mean" or algorithm.norm_bound is not None:
                raise ValueError(
                    "secure_aggregation gives the server only the sum of the updates: "
                    "algorithm.aggregation must be 'mean' and algorithm.norm_bound unset"
                )
            if self.training.min_clients < 3:
                raise ValueError(
                    "secure_aggregation needs training.min_clients of at least 3 (with two, "
                    "each edge could read the other's update from the sum)"
                )
        return self


def _plain(err: dict) -> str:
    """A validation error in the words of the field it is about, not the validator's."""
    kind, ctx = err["type"], err.get("ctx") or {}
    named = str(err["loc"][-1]) == "name" if err["loc"] else False
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return f"may not be empty{': ' + NAME_RULE if named else ''}"
    if named and kind in ("string_pattern_mismatch", "string_too_long"):
        return f"must be {NAME_RULE}"
    return err["msg"].removeprefix("Value error, ")  # our own validators' words


def describe_validation_error(exc: ValidationError, source: str = "config") -> str:
    """One readable line per problem: `training.lr: Input should be greater than 0`."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{where}: {_plain(err)}")
    return f"invalid {source}: " + "; ".join(parts)


def parse_config(data: dict[str, Any], source: str = "config") -> FLConfig:
    try:
        return FLConfig.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc, source)) from exc


def config_from_toml(text: str, source: str = "config") -> FLConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{source} is not valid TOML: {exc}") from exc
    return parse_config(data, source)


BUILTIN_ONLY = ("model", "dataset")  # what only FedDeck's built-in tasks read


def config_to_toml(config: FLConfig) -> str:
    """The config as TOML. A config of a task of its own leaves out [model] and [dataset],
    which only the built-in tasks read, unless it set them."""
    body = config.model_dump(mode="json", exclude_none=True)
    if config.task.name is not None:
        for section in BUILTIN_ONLY:
            if getattr(config, section) == type(getattr(config, section))():
                del body[section]
    if not config.privacy.enabled and config.privacy == PrivacySpec():
        del body["privacy"]  # off, as every config before it was
    return tomli_w.dumps(body)
