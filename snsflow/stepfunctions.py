"""Step Functions adapter: starts and describes executions (the webhook's and reconciler's port).

Failures that a later try can fix (throttling, outages, network errors, and also a state machine
that is missing or not permitted — the claim waits while the deployment is put right) become
:class:`~snsflow.executions.ExecutionStartFailedError` (503). ``ExecutionAlreadyExists`` is not a
failure: the execution of that name was started before (its closing made Step Functions refuse
the idempotent restart), so it is described and returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from snsflow.errors import DependencyUnavailableError, SnsflowError
from snsflow.executions import ExecutionStartFailedError, StartedExecution

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


class ExecutionDescription(BaseModel):
    """What DescribeExecution tells about a run."""

    model_config = ConfigDict(frozen=True)

    execution_arn: str
    status: str
    started_at: datetime
    stopped_at: datetime | None = None
    input: str | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    #: How many times it was redriven, and whether it can be (``REDRIVABLE``...), with why not.
    redrive_count: int = 0
    redrive_status: str | None = None
    redrive_status_reason: str | None = None


class HistoryPage(BaseModel):
    """A page of GetExecutionHistory: the events as Step Functions gives them, oldest first."""

    model_config = ConfigDict(frozen=True)

    events: list[dict[str, Any]]
    next_token: str | None = None


class ExecutionNotRedrivableError(SnsflowError):
    """Step Functions refused to redrive the execution; the message has its reason."""

    code = "not_redrivable"
    http_status = 409


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of a STANDARD execution by name.

    ``arn:…:stateMachine:<machine>`` → ``arn:…:execution:<machine>:<name>``.
    """
    parts = state_machine_arn.split(":")
    return ":".join([*parts[:5], "execution", parts[6], name])


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class StepFunctionsExecutions:
    """Starts and describes executions with a Step Functions client."""

    def __init__(self, client: SFNClient) -> None:
        self._client = client

    def start(self, *, state_machine_arn: str, name: str, execution_input: str) -> StartedExecution:
        try:
            response = self._client.start_execution(
                stateMachineArn=state_machine_arn, name=name, input=execution_input
            )
        except ClientError as error:
            code = _error_code(error)
            if code == "ExecutionAlreadyExists":
                existing = self.describe(execution_arn(state_machine_arn, name))
                return StartedExecution(
                    execution_arn=existing.execution_arn, started_at=existing.started_at
                )
            raise ExecutionStartFailedError(
                f"Step Functions did not start execution {name!r}: {code or 'error'}: "
                f"{error.response.get('Error', {}).get('Message', '')}".rstrip(": ")
            ) from error
        except BotoCoreError as error:
            raise ExecutionStartFailedError(
                f"Step Functions could not be reached to start execution {name!r}: "
                f"{type(error).__name__}"
            ) from error
        return StartedExecution(
            execution_arn=response["executionArn"], started_at=response["startDate"]
        )

    def describe(self, arn: str) -> ExecutionDescription:
        """Describe an execution; a failure to do so is a :class:`DependencyUnavailableError`."""
        try:
            response = self._client.describe_execution(executionArn=arn)
        except (BotoCoreError, ClientError) as error:
            raise _unavailable("describe", arn, error) from error
        return ExecutionDescription(
            execution_arn=response["executionArn"],
            status=response["status"],
            started_at=response["startDate"],
            stopped_at=response.get("stopDate"),
            input=response.get("input"),
            output=response.get("output"),
            error=response.get("error"),
            cause=response.get("cause"),
            redrive_count=response.get("redriveCount", 0),
            redrive_status=response.get("redriveStatus"),
            redrive_status_reason=response.get("redriveStatusReason"),
        )

    def history(self, arn: str, *, next_token: str | None, max_results: int) -> HistoryPage:
        """One page of the execution's events, oldest first."""
        kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": max_results}
        if next_token:
            kwargs["nextToken"] = next_token
        try:
            response = self._client.get_execution_history(**kwargs)
        except (BotoCoreError, ClientError) as error:
            raise _unavailable("read the history of", arn, error) from error
        return HistoryPage(events=list(response["events"]), next_token=response.get("nextToken"))

    def redrive(self, arn: str, *, client_token: str) -> datetime:
        """Redrive the execution (idempotent per ``client_token``); returns the redrive time.

        :class:`ExecutionNotRedrivableError` when Step Functions says it cannot be."""
        try:
            response = self._client.redrive_execution(executionArn=arn, clientToken=client_token)
        except ClientError as error:
            if _error_code(error) == "ExecutionNotRedrivable":
                message = error.response.get("Error", {}).get("Message", "")
                raise ExecutionNotRedrivableError(
                    f"Step Functions cannot redrive this execution: {message or 'not redrivable'}"
                ) from error
            raise _unavailable("redrive", arn, error) from error
        except BotoCoreError as error:
            raise _unavailable("redrive", arn, error) from error
        return response["redriveDate"]


def _unavailable(
    action: str, arn: str, error: BotoCoreError | ClientError
) -> DependencyUnavailableError:
    reason = _error_code(error) if isinstance(error, ClientError) else type(error).__name__
    return DependencyUnavailableError(
        f"Step Functions could not {action} execution {arn!r}: {reason}"
    )
