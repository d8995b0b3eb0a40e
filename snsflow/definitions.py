"""The definition each workflow's state machine is deployed with.

The CDK stack and the local stack both create every state machine from
:func:`deployed_definition`, so a workflow runs the same definition in AWS and on a laptop.

**STANDARD**: the workflow's own definition, unchanged. Step Functions' status events (and the
reconciler's ``DescribeExecution``) record how each run ends.

**EXPRESS**: Step Functions sends no status events for EXPRESS executions and cannot describe
them, so the definition is wrapped and records its run itself, with the DynamoDB service
integration, in the executions table::

    snsflow.ClaimRun ─► snsflow.Run ─────────────► snsflow.RecordSuccess ─► snsflow.Succeeded
      │ taken by         (Parallel, one branch:      │ too large: snsflow.RecordSuccessWithoutOutput
      │ another run       the workflow's states)
      ▼                    │ any catchable error
    snsflow.AlreadyClaimed ▼
                         snsflow.CheckFailure ─► snsflow.RecordFailure ─► snsflow.Failed
                                                   │ too large: snsflow.RecordFailureWithoutCause

- ``ClaimRun`` moves the record ``RECEIVED`` → ``RUNNING`` unless another run already took it.
  EXPRESS starts are not idempotent by name and asynchronous EXPRESS executions are run
  at least once, so two executions for one message are possible: only the one that claims the
  record runs the workflow's states; any other ends at once (``AlreadyClaimed``, a success).
- The outcome writes apply only to the claiming run's own record while it is ``RUNNING``, so a
  record never goes backwards and an outcome recorded otherwise is never overwritten; such a
  refusal does not fail a successful run.
- ``Failed`` re-raises the workflow's error and cause: the execution itself still fails.
- An error ``States.ALL`` cannot catch (``States.Runtime``, ``States.DataLimitExceeded``) or the
  execution's own time limit ends the run without an outcome; the reconciler records those
  (see :mod:`snsflow.reconciler`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from snsflow.store.executions import (
    ExecutionStatus,
    RunReferences,
    run_claim_request,
    run_outcome_request,
)
from snsflow.workflows import Workflow, WorkflowFileError

#: An EXPRESS execution runs for at most five minutes (a Step Functions limit).
EXPRESS_MAX_DURATION = timedelta(minutes=5)
#: State names snsflow adds to EXPRESS definitions; a workflow's own states may not use it.
RESERVED_STATE_PREFIX = "snsflow."

_UPDATE_ITEM = "arn:aws:states:::dynamodb:updateItem"
_CONDITION_FAILED = "DynamoDB.ConditionalCheckFailedException"
# Retrying cannot change these: a refused condition, or a request DynamoDB rejects (an item
# over 400 KB is a ValidationException, which Step Functions may report as the generic name).
_NOT_RETRYABLE = (
    _CONDITION_FAILED,
    "DynamoDB.ValidationException",
    "DynamoDB.AmazonDynamoDBException",
)
# ``$$.State.EnteredTime`` is the same across retries of a state and different for any other
# run, so a retried claim recognises itself while a second run of the same execution does not.
_RUN = RunReferences(
    message_id="$$.Execution.Input.messageId",
    execution_arn="$$.Execution.Id",
    now="$$.State.EnteredTime",
    run_id="States.Format('{} {}', $$.Execution.Id, $$.State.EnteredTime)",
)

_CLAIM = f"{RESERVED_STATE_PREFIX}ClaimRun"
_ALREADY_CLAIMED = f"{RESERVED_STATE_PREFIX}AlreadyClaimed"
_RUN_WORKFLOW = f"{RESERVED_STATE_PREFIX}Run"
_RECORD_SUCCESS = f"{RESERVED_STATE_PREFIX}RecordSuccess"
_RECORD_SUCCESS_WITHOUT_OUTPUT = f"{RESERVED_STATE_PREFIX}RecordSuccessWithoutOutput"
_SUCCEEDED = f"{RESERVED_STATE_PREFIX}Succeeded"
_CHECK_FAILURE = f"{RESERVED_STATE_PREFIX}CheckFailure"
_FILL_CAUSE = f"{RESERVED_STATE_PREFIX}FillCause"
_FILL_ERROR = f"{RESERVED_STATE_PREFIX}FillError"
_RECORD_FAILURE = f"{RESERVED_STATE_PREFIX}RecordFailure"
_RECORD_FAILURE_WITHOUT_CAUSE = f"{RESERVED_STATE_PREFIX}RecordFailureWithoutCause"
_FAILED = f"{RESERVED_STATE_PREFIX}Failed"

#: The error of a failure that named none (a ``Fail`` state without ``Error``).
UNNAMED_ERROR = "snsflow.UnnamedError"


def deployed_definition(workflow: Workflow, *, executions_table_name: str) -> dict[str, Any]:
    """The ASL definition to deploy ``workflow``'s state machine with (a new object).

    Raises :class:`~snsflow.workflows.WorkflowFileError` if an EXPRESS definition uses a state
    name starting with :data:`RESERVED_STATE_PREFIX`.
    """
    if workflow.state_machine.type == "STANDARD":
        return copy.deepcopy(workflow.definition)
    return _recording_definition(workflow, executions_table_name)


def _recording_definition(workflow: Workflow, table_name: str) -> dict[str, Any]:
    user = copy.deepcopy(workflow.definition)
    for name in _state_names(user["States"]):
        if name.startswith(RESERVED_STATE_PREFIX):
            raise WorkflowFileError(
                f"workflow '{workflow.id}': field 'stateMachine.definition': "
                f"{workflow.state_machine.definition}: state name '{name}' is reserved "
                f"(names starting with '{RESERVED_STATE_PREFIX}' are snsflow's)"
            )
    if user.get("QueryLanguage") == "JSONata":
        # The wrapper's own states use JSONPath (the default), so the workflow's states say
        # which language they are written in.
        _mark_query_language(user["States"])
    branch = {key: user[key] for key in ("Comment", "StartAt", "States") if key in user}

    def write(status: ExecutionStatus, **fields: Any) -> dict[str, Any]:
        return run_outcome_request(table_name, workflow.id, _RUN, status, **fields)

    definition: dict[str, Any] = {
        "Comment": (
            f"snsflow workflow '{workflow.id}' (EXPRESS): its states run in {_RUN_WORKFLOW}; "
            f"each run records its outcome in the executions table."
        ),
        "StartAt": _CLAIM,
        "States": {
            _CLAIM: _write_task(
                run_claim_request(table_name, workflow.id, _RUN),
                next_state=_RUN_WORKFLOW,
                catches={_CONDITION_FAILED: _ALREADY_CLAIMED},
            ),
            _ALREADY_CLAIMED: {
                "Type": "Pass",
                "Result": {"skipped": "another run of this message has taken its record"},
                "End": True,
            },
            _RUN_WORKFLOW: {
                "Type": "Parallel",
                "Branches": [branch],
                "OutputPath": "$[0]",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": _CHECK_FAILURE}],
                "Next": _RECORD_SUCCESS,
            },
            _RECORD_SUCCESS: _write_task(
                write(ExecutionStatus.SUCCEEDED, output="States.JsonToString($)"),
                next_state=_SUCCEEDED,
                catches={
                    _CONDITION_FAILED: _SUCCEEDED,
                    "States.ALL": _RECORD_SUCCESS_WITHOUT_OUTPUT,
                },
            ),
            _RECORD_SUCCESS_WITHOUT_OUTPUT: _write_task(
                write(ExecutionStatus.SUCCEEDED, output_truncated=True),
                next_state=_SUCCEEDED,
                catches={_CONDITION_FAILED: _SUCCEEDED},
            ),
            _SUCCEEDED: {"Type": "Succeed"},
            # Step Functions may leave out Error or Cause (a Fail state without them); the
            # writes and the re-raise below need both as strings.
            _CHECK_FAILURE: {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [_is_string("$.Error"), _is_string("$.Cause")],
                        "Next": _RECORD_FAILURE,
                    },
                    {**_is_string("$.Error"), "Next": _FILL_CAUSE},
                ],
                "Default": _FILL_ERROR,
            },
            _FILL_CAUSE: {
                "Type": "Pass",
                "Parameters": {"Error.$": "$.Error", "Cause": ""},
                "Next": _RECORD_FAILURE,
            },
            _FILL_ERROR: {
                "Type": "Pass",
                "Parameters": {"Error": UNNAMED_ERROR, "Cause.$": "States.JsonToString($)"},
                "Next": _RECORD_FAILURE,
            },
            _RECORD_FAILURE: _write_task(
                write(ExecutionStatus.FAILED, error="$.Error", cause="$.Cause"),
                next_state=_FAILED,
                catches={_CONDITION_FAILED: _FAILED, "States.ALL": _RECORD_FAILURE_WITHOUT_CAUSE},
            ),
            _RECORD_FAILURE_WITHOUT_CAUSE: _write_task(
                write(ExecutionStatus.FAILED, error="$.Error", cause_truncated=True),
                next_state=_FAILED,
                # Whatever happens to the record, the run fails with the workflow's own error.
                catches={"States.ALL": _FAILED},
            ),
            _FAILED: {"Type": "Fail", "ErrorPath": "$.Error", "CausePath": "$.Cause"},
        },
    }
    for key in ("TimeoutSeconds", "Version"):
        if key in user:
            definition[key] = user[key]
    return definition


def _write_task(
    parameters: dict[str, Any], *, next_state: str, catches: dict[str, str]
) -> dict[str, Any]:
    """A DynamoDB write that keeps its input as its output; ``catches``: error name → state."""
    return {
        "Type": "Task",
        "Resource": _UPDATE_ITEM,
        "Parameters": parameters,
        "ResultPath": None,
        "Retry": [
            {"ErrorEquals": list(_NOT_RETRYABLE), "MaxAttempts": 0},
            # Throttling and outages: DynamoDB's own retries are not enough in a burst.
            {
                "ErrorEquals": ["States.ALL"],
                "IntervalSeconds": 1,
                "MaxAttempts": 3,
                "BackoffRate": 2.0,
                "JitterStrategy": "FULL",
            },
        ],
        "Catch": [
            {"ErrorEquals": [error], "ResultPath": None, "Next": target}
            for error, target in catches.items()
        ],
        "Next": next_state,
    }


def _is_string(path: str) -> dict[str, Any]:
    # ``And`` stops at the first false rule, so IsString never meets a missing field.
    return {"And": [{"Variable": path, "IsPresent": True}, {"Variable": path, "IsString": True}]}


def _nested_state_maps(state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The ``States`` of a Parallel's branches and of a Map's item processor."""
    for branch in state.get("Branches", []):
        yield branch["States"]
    for processor in ("ItemProcessor", "Iterator"):
        if isinstance(state.get(processor), dict):
            yield state[processor]["States"]


def _state_names(states: dict[str, Any]) -> Iterator[str]:
    for name, state in states.items():
        yield name
        for nested in _nested_state_maps(state):
            yield from _state_names(nested)


def _mark_query_language(states: dict[str, Any]) -> None:
    for state in states.values():
        state.setdefault("QueryLanguage", "JSONata")
        for nested in _nested_state_maps(state):
            _mark_query_language(nested)
