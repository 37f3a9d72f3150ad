"""A flow: a directed acyclic graph of steps, each a job template, with conditions on the
parents' results. Parsed from TOML or a dict and checked as a whole (names, references,
cycles) before anything is stored.

    name = "digits-then-finetune"
    [[steps]]
    name = "train"
    job = { project = "demo", config = "digits-mlp", edge_tag = "lab" }
    [[steps]]
    name = "finetune"
    depends_on = ["train"]
    condition = { min_accuracy = 0.8 }
    retries = 1
    job = { project = "demo", config = "digits-finetune", edge_tag = "lab", init_from = "train" }
"""

from __future__ import annotations

import graphlib
import operator
import tomllib
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.core.fl_config import describe_validation_error
from app.errors import InvalidInput
from app.services.automation.job_templates import DEFAULT_NAME, JobTemplate
from app.services.security.auth import validate_name
from app.storage.models import JobStatus

FLOW_STEP_NAME = "{flow} / {source}"
COMPARE = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}


class MetricCondition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    op: Literal["<", "<=", ">", ">=", "=="]
    value: float

    def holds(self, actual: float) -> bool:
        return COMPARE[self.op](actual, self.value)


class StepCondition(BaseModel):
    """What every parent's run must show for the step to start; otherwise it is skipped."""

    model_config = ConfigDict(extra="forbid")
    status: list[str] = Field(default_factory=lambda: [JobStatus.FINISHED.value])
    min_accuracy: float | None = Field(default=None, ge=0.0, le=1.0)
    metrics: list[MetricCondition] = Field(default_factory=list)

    @field_validator("status")
    @classmethod
    def _known_statuses(cls, value: list[str]) -> list[str]:
        allowed = {s.value for s in JobStatus}
        upper = [v.upper() for v in value]
        unknown = [v for v in upper if v not in allowed]
        if unknown or not upper:
            raise ValueError(f"status must list some of {', '.join(sorted(allowed))}")
        return upper


class StepDef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    job: JobTemplate
    depends_on: list[str] = Field(default_factory=list)
    condition: StepCondition = Field(default_factory=StepCondition)
    retries: int = Field(default=0, ge=0, le=10)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        try:
            return validate_name("step", value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None


class FlowDef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    steps: list[StepDef] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        try:
            return validate_name("flow", value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _graph(self) -> FlowDef:
        names = [s.name for s in self.steps]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"step names must be unique; repeated: {', '.join(dupes)}")
        known = set(names)
        for step in self.steps:
            unknown = [d for d in step.depends_on if d not in known]
            if unknown:
                raise ValueError(f"step {step.name!r} depends on unknown step(s) {unknown}")
            source = step.job.init_from
            if source is not None and source not in step.depends_on:
                raise ValueError(
                    f"step {step.name!r} takes its model from {source!r}, which must be one of "
                    f"its depends_on (its model has to exist when {step.name!r} starts)"
                )
        self.order()  # raises on a cycle
        return self

    def order(self) -> list[str]:
        """Step names in an order where every step comes after its parents."""
        graph = {s.name: set(s.depends_on) for s in self.steps}
        try:
            return list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as exc:
            cycle = " -> ".join(exc.args[1])
            raise ValueError(f"the steps form a cycle: {cycle}") from None

    def step(self, name: str) -> StepDef:
        return next(s for s in self.steps if s.name == name)


def parse_flow(data: dict[str, Any], source: str = "flow") -> FlowDef:
    try:
        flow = FlowDef.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc, source)) from exc
    for step in flow.steps:
        if step.job.name == DEFAULT_NAME:
            step.job.name = FLOW_STEP_NAME.replace("{flow}", flow.name)
    return flow


def flow_from_toml(text: str, source: str = "flow file") -> FlowDef:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{source} is not valid TOML: {exc}") from exc
    return parse_flow(data, source)


def flow_to_toml(flow: FlowDef) -> str:
    return tomli_w.dumps(flow.model_dump(mode="json", exclude_defaults=True))
