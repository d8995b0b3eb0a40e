"""Workflow files (contract): ``workflows/<id>.json`` plus the ASL definition it names.

A bad file fails ``cdk synth`` and the local start with a message naming the file and the field.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

WORKFLOW_ID_PATTERN = r"^[a-z0-9-]{1,64}$"
#: Key names are chosen by operators; keep them printable and short.
KEY_NAME_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
_WORKFLOW_ID = re.compile(WORKFLOW_ID_PATTERN)
TOPIC_ARN_PATTERN = r"^arn:[a-z0-9*-]+:sns:[a-z0-9*-]*:[0-9*]*:[A-Za-z0-9_*.-]+$"


def is_workflow_id(value: str) -> bool:
    return _WORKFLOW_ID.fullmatch(value) is not None


class WorkflowFileError(ValueError):
    """A workflow file or its definition is invalid; the message names the file and field."""


class SnsTrigger(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: Literal["amazon-sns"]
    api_key_name: str = Field(alias="apiKeyName", pattern=KEY_NAME_PATTERN)
    #: None means any topic; entries may contain ``*`` wildcards.
    allowed_topic_arns: tuple[str, ...] | None = Field(
        default=None, alias="allowedTopicArns", min_length=1
    )

    @cached_property
    def _topic_patterns(self) -> tuple[re.Pattern[str], ...] | None:
        if self.allowed_topic_arns is None:
            return None
        return tuple(
            re.compile(
                "".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", arn))
            )
            for arn in self.allowed_topic_arns
        )

    def allows_topic(self, topic_arn: str) -> bool:
        patterns = self._topic_patterns
        return patterns is None or any(p.fullmatch(topic_arn) for p in patterns)


class StateMachineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["STANDARD", "EXPRESS"] = "STANDARD"
    #: Path of the ASL file, relative to the workflow file.
    definition: str = Field(min_length=1)


class Workflow(BaseModel):
    """A workflow file, validated, with its ASL definition loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=WORKFLOW_ID_PATTERN)
    name: str = Field(min_length=1, max_length=256)
    trigger: SnsTrigger
    state_machine: StateMachineSpec = Field(alias="stateMachine")
    #: The ASL definition (a JSON object), loaded from ``state_machine.definition``.
    definition: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @property
    def definition_json(self) -> str:
        return json.dumps(self.definition, separators=(",", ":"), sort_keys=True)

    @property
    def version(self) -> str:
        """A short digest of the workflow file and its definition: changes with either."""
        payload = self.model_dump_json(by_alias=True) + self.definition_json
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        problems.append(f"field '{where}': {item['msg']}")
    return "; ".join(problems)


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkflowFileError(f"{path}: cannot be read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise WorkflowFileError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise WorkflowFileError(f"{path}: must contain a JSON object")
    return data


def load_workflow(path: Path) -> Workflow:
    data = _read_json_object(path)
    if "definition" in data:
        # The loaded ASL lives in this field; a file must name its definition under stateMachine.
        raise WorkflowFileError(f"{path}: field 'definition' is not allowed at top level")
    try:
        workflow = Workflow.model_validate(data)
    except ValidationError as exc:
        raise WorkflowFileError(f"{path}: {_describe(exc)}") from exc
    if workflow.id != path.stem:
        raise WorkflowFileError(
            f"{path}: field 'id': '{workflow.id}' must equal the file name '{path.stem}'"
        )
    definition_path = (path.parent / workflow.state_machine.definition).resolve()
    definition = _read_json_object(definition_path)
    if not isinstance(definition.get("States"), dict) or "StartAt" not in definition:
        raise WorkflowFileError(
            f"{path}: field 'stateMachine.definition': {definition_path.name} is not an ASL "
            "definition (needs 'StartAt' and 'States')"
        )
    return workflow.model_copy(update={"definition": definition})


def load_workflows(directory: Path) -> list[Workflow]:
    """Every workflow in ``directory``, sorted by id.

    A workflow file is any ``*.json`` that is not an ASL definition: files ending in
    ``.asl.json`` are definitions, and so is any file a workflow names as its definition.
    """
    if not directory.is_dir():
        raise WorkflowFileError(f"{directory}: workflows folder not found")
    candidates = sorted(p for p in directory.glob("*.json") if not p.name.endswith(".asl.json"))
    named_definitions: set[Path] = set()
    for path in candidates:
        data = _read_json_object(path)
        machine = data.get("stateMachine")
        if isinstance(machine, dict) and isinstance(machine.get("definition"), str):
            named_definitions.add((path.parent / machine["definition"]).resolve())
    workflows = [load_workflow(p) for p in candidates if p.resolve() not in named_definitions]
    if not workflows:
        raise WorkflowFileError(f"{directory}: no workflow files found")
    return sorted(workflows, key=lambda w: w.id)
