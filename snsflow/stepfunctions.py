"""Step Functions adapter: starts and describes executions (the webhook's and reconciler's port).

Failures that a later try can fix (throttling, outages, network errors, and also a state machine
that is missing or not permitted — the claim waits while the deployment is put right) become
:class:`~snsflow.executions.ExecutionStartFailedError` (503). ``ExecutionAlreadyExists`` is not a
failure: the execution of that name was started before (its closing made Step Functions refuse
the idempotent restart), so it is described and returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from snsflow.errors import DependencyUnavailableError
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
            reason = _error_code(error) if isinstance(error, ClientError) else type(error).__name__
            raise DependencyUnavailableError(
                f"Step Functions could not describe execution {arn!r}: {reason}"
            ) from error
        return ExecutionDescription(
            execution_arn=response["executionArn"],
            status=response["status"],
            started_at=response["startDate"],
            stopped_at=response.get("stopDate"),
            input=response.get("input"),
            output=response.get("output"),
            error=response.get("error"),
            cause=response.get("cause"),
        )
