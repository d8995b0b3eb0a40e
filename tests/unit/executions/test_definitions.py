"""The deployed definitions: STANDARD as written, EXPRESS wrapped to record its own runs.

What the wrapped definition does when it runs is tested with moto's interpreter in
``tests/integration/webhook/test_express_workflows.py``; these tests cover how it is built.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from snsflow.definitions import RESERVED_STATE_PREFIX, deployed_definition
from snsflow.workflows import Workflow, WorkflowFileError, load_workflows

EXPRESS_WORKFLOWS = Path(__file__).resolve().parents[2] / "fixtures" / "workflows-express"
TABLE = "snsflow-executions"


def express(
    definition: dict[str, Any], workflow_id: str = "fast-orders", machine_type: str = "EXPRESS"
) -> Workflow:
    return Workflow.model_validate(
        {
            "id": workflow_id,
            "name": "Fast orders",
            "trigger": {"type": "amazon-sns", "apiKeyName": "prod-sns"},
            "stateMachine": {"type": machine_type, "definition": "fast-orders.asl.json"},
            "definition": definition,
        }
    )


def one_state(**extra: Any) -> dict[str, Any]:
    return {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}, **extra}


def dynamodb_writes(definition: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for state in definition["States"].values():
        if state.get("Resource", "").startswith("arn:aws:states:::dynamodb:"):
            yield state


def test_a_standard_definition_is_deployed_as_written_and_as_a_copy() -> None:
    standard = express(one_state(), machine_type="STANDARD")

    deployed = deployed_definition(standard, executions_table_name=TABLE)
    deployed["States"]["Done"]["Type"] = "Fail"

    assert deployed_definition(standard, executions_table_name=TABLE) == one_state()
    assert standard.definition == one_state()


def test_an_express_definition_runs_the_workflow_states_unchanged_in_one_branch() -> None:
    workflow = express(one_state(Comment="mine", TimeoutSeconds=60, Version="1.0"))

    deployed = deployed_definition(workflow, executions_table_name=TABLE)

    [parallel] = [s for s in deployed["States"].values() if s["Type"] == "Parallel"]
    assert parallel["Branches"] == [
        {"Comment": "mine", "StartAt": "Done", "States": one_state()["States"]}
    ]
    # The execution's own limits stay the execution's.
    assert (deployed["TimeoutSeconds"], deployed["Version"]) == (60, "1.0")
    assert all(name.startswith(RESERVED_STATE_PREFIX) for name in deployed["States"])


def test_an_express_run_takes_its_record_before_any_workflow_state() -> None:
    deployed = deployed_definition(express(one_state()), executions_table_name=TABLE)

    first = deployed["States"][deployed["StartAt"]]

    assert first["Resource"] == "arn:aws:states:::dynamodb:updateItem"
    assert first["Next"] == next(
        name for name, state in deployed["States"].items() if state["Type"] == "Parallel"
    )
    assert ":fromRECEIVED" in first["Parameters"]["ConditionExpression"]


def test_every_express_record_write_is_conditional_on_this_workflow_and_table() -> None:
    deployed = deployed_definition(express(one_state(), "fast-orders"), executions_table_name=TABLE)

    writes = list(dynamodb_writes(deployed))

    assert len(writes) == 5  # the claim, and success and failure each with a smaller fallback
    for write in writes:
        parameters = write["Parameters"]
        assert parameters["TableName"] == TABLE
        assert parameters["Key"]["workflowId"] == {"S": "fast-orders"}
        assert parameters["Key"]["recordKey"] == {
            "S.$": "States.Format('fast-orders#{}', $$.Execution.Input.messageId)"
        }
        assert parameters["ConditionExpression"]
        assert write["ResultPath"] is None  # the run's data passes through untouched


def test_an_express_definition_is_json_and_the_same_every_time() -> None:
    [workflow, *_] = load_workflows(EXPRESS_WORKFLOWS)

    first = json.dumps(deployed_definition(workflow, executions_table_name=TABLE), sort_keys=True)
    second = json.dumps(deployed_definition(workflow, executions_table_name=TABLE), sort_keys=True)

    assert first == second


def test_a_reserved_state_name_anywhere_in_an_express_definition_is_refused() -> None:
    nested = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "snsflow.Run", "States": {"snsflow.Run": {"Type": "Succeed"}}}
                ],
                "End": True,
            }
        },
    }

    with pytest.raises(WorkflowFileError) as refused:
        deployed_definition(express(nested), executions_table_name=TABLE)

    message = str(refused.value)
    assert "fast-orders" in message
    assert "stateMachine.definition" in message
    assert "'snsflow.Run'" in message


def test_jsonata_workflow_states_keep_their_language_inside_the_jsonpath_wrapper() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Item",
                    "States": {"Item": {"Type": "Pass", "End": True}},
                },
                "Next": "Explicit",
            },
            "Explicit": {"Type": "Pass", "QueryLanguage": "JSONata", "End": True},
        },
    }

    deployed = deployed_definition(express(definition), executions_table_name=TABLE)

    assert "QueryLanguage" not in deployed
    [parallel] = [s for s in deployed["States"].values() if s["Type"] == "Parallel"]
    states = parallel["Branches"][0]["States"]
    assert states["Each"]["QueryLanguage"] == "JSONata"
    assert states["Each"]["ItemProcessor"]["States"]["Item"]["QueryLanguage"] == "JSONata"
    assert states["Explicit"]["QueryLanguage"] == "JSONata"
