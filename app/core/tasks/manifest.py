"""`task.toml`: what a task is called, which module to import, what it needs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.core.fl_config import describe_validation_error
from app.errors import InvalidInput

MANIFEST = "task.toml"
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class TaskManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    version: str = Field(default="0.1.0", min_length=1, max_length=32)
    description: str = ""
    entry: str = Field(default="task", description="the module's name: task.py is 'task'")
    requirements: list[str] = Field(default_factory=list, max_length=64)
    data_key: str = Field(
        default="",
        max_length=64,
        pattern=r"^([A-Za-z0-9][A-Za-z0-9_.-]*)?$",
        description="the --data KEY an edge needs; empty: the task brings its own data",
    )
    defaults: dict[str, Any] = Field(default_factory=dict)

    @field_validator("entry")
    @classmethod
    def _entry_is_a_module(cls, value: str) -> str:
        if value.endswith(".py"):
            raise ValueError(f"entry is a module name: drop the .py ({value[:-3]!r})")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(
                f"entry {value!r} is not a module name: letters, digits and _, "
                "not starting with a digit (task.py is 'task')"
            )
        return value

    @field_validator("requirements")
    @classmethod
    def _requirements_parse(cls, value: list[str]) -> list[str]:
        for line in value:
            try:
                Requirement(line)
            except InvalidRequirement as exc:
                raise ValueError(f"{line!r} is not a pip requirement: {exc}") from None
        return value


def parse_manifest(text: str, source: str) -> TaskManifest:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{source} is not valid TOML: {exc}") from None
    try:
        return TaskManifest.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc, source)) from None


def read_manifest(folder: Path) -> TaskManifest:
    path = folder / MANIFEST
    if not path.is_file():
        raise InvalidInput(f"{folder} is not a task: it has no {MANIFEST}")
    manifest = parse_manifest(path.read_text(encoding="utf-8"), str(path))
    if not (folder / f"{manifest.entry}.py").is_file():
        raise InvalidInput(f"{path}: entry module {manifest.entry}.py is not in {folder}")
    return manifest
