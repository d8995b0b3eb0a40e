"""What each Lambda function may do: the one place to read (and adjust) its IAM permissions.

Every function has a role of its own holding exactly these statements, plus writing to its own
log group and sending X-Ray traces. Resources are always this stack's tables, indexes, state
machines and executions, and for reading SNS subscriptions the topics of the stack's own account
(``arn:<partition>:sns:*:<account>:*``: subscriptions are made outside the stack, to topics of
any region): nothing is granted on ``*`` except X-Ray, which has no resource-level permissions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from snsflow.store.tables import (
    DELIVERIES,
    EXECUTIONS,
    KEYS,
    LEGACY_EXECUTIONS,
    SUBSCRIPTIONS,
    WORKFLOWS,
    TableSchema,
)

FunctionName = Literal["authorizer", "webhook", "status", "reconciler", "query"]


@dataclass(frozen=True)
class TableGrant:
    table: TableSchema
    actions: tuple[str, ...]
    #: Grant on these secondary indexes instead of the table (a Query on an index needs them).
    indexes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FunctionAccess:
    tables: tuple[TableGrant, ...] = ()
    #: Step Functions actions on the workflows' state machines.
    state_machine_actions: tuple[str, ...] = ()
    #: Step Functions actions on the executions of the workflows' state machines.
    execution_actions: tuple[str, ...] = ()
    #: SNS actions on the topics (and so their subscriptions) of the stack's own account.
    account_topic_actions: tuple[str, ...] = ()


ACCESS: dict[FunctionName, FunctionAccess] = {
    # Reads the key and the path's workflow in one BatchGetItem; records when a key was used.
    "authorizer": FunctionAccess(
        tables=(
            TableGrant(KEYS, ("dynamodb:BatchGetItem", "dynamodb:UpdateItem")),
            TableGrant(WORKFLOWS, ("dynamodb:BatchGetItem",)),
            # Counts the refusals of a workflow's webhook in the delivery log.
            TableGrant(DELIVERIES, ("dynamodb:UpdateItem",)),
        ),
    ),
    # Claims the message (an UpdateItem, then a conditional PutItem of its input), reads and
    # records subscriptions, starts
    # the execution. It confirms subscriptions by an HTTPS GET of the validated SubscribeURL, so it
    # needs no SNS permission.
    "webhook": FunctionAccess(
        tables=(
            TableGrant(WORKFLOWS, ("dynamodb:GetItem",)),
            TableGrant(EXECUTIONS, ("dynamodb:UpdateItem", "dynamodb:PutItem")),
            # A delivered message's record still in the executions table deployed before
            # issue 15 is moved before the delivery is recorded, until that table is found
            # empty (snsflow.store.migration).
            TableGrant(
                LEGACY_EXECUTIONS, ("dynamodb:Scan", "dynamodb:GetItem", "dynamodb:DeleteItem")
            ),
            TableGrant(SUBSCRIPTIONS, ("dynamodb:GetItem", "dynamodb:UpdateItem")),
            # The delivery log: an entry per delivery, a counter per kind of refusal and minute.
            TableGrant(DELIVERIES, ("dynamodb:PutItem", "dynamodb:UpdateItem")),
        ),
        state_machine_actions=("states:StartExecution",),
        # A start answered ExecutionAlreadyExists (an earlier attempt got through) is described.
        execution_actions=("states:DescribeExecution",),
    ),
    # Finds the record of a status-change event by execution id (its key, or the sparse index)
    # and moves it forward; maps the event's state machine to its workflow through the (small)
    # registry.
    "status": FunctionAccess(
        tables=(
            TableGrant(WORKFLOWS, ("dynamodb:Scan",)),
            TableGrant(EXECUTIONS, ("dynamodb:UpdateItem", "dynamodb:Query")),
            TableGrant(EXECUTIONS, ("dynamodb:Query",), indexes=("byExecutionId",)),
        ),
    ),
    # Finds claims stuck in RECEIVED (starts them) and runs RUNNING past a while (describes
    # them); moves the records of the executions table deployed before issue 15 to today's;
    # checks subscription records against SNS (writing a record when SNS's answer changed).
    "reconciler": FunctionAccess(
        tables=(
            TableGrant(WORKFLOWS, ("dynamodb:Scan",)),
            TableGrant(SUBSCRIPTIONS, ("dynamodb:Query", "dynamodb:UpdateItem")),
            TableGrant(
                EXECUTIONS, ("dynamodb:UpdateItem", "dynamodb:BatchGetItem", "dynamodb:PutItem")
            ),
            TableGrant(LEGACY_EXECUTIONS, ("dynamodb:Scan", "dynamodb:DeleteItem")),
            TableGrant(EXECUTIONS, ("dynamodb:Query",), indexes=("byStatusShard",)),
        ),
        state_machine_actions=("states:StartExecution",),
        execution_actions=("states:DescribeExecution",),
        account_topic_actions=("sns:GetSubscriptionAttributes",),
    ),
    # The API and the executions page: workflows (one or all), executions through the
    # key-only indexes (newest first, by status, by execution id) and then the records
    # themselves (one by its key, a page in a BatchGetItem), a workflow's subscriptions, an
    # execution's step history. Acting (operate keys only): a redrive describes the execution,
    # redrives it and updates its record; a re-run writes its record and the original's in one
    # transaction (PutItem + UpdateItem), reads them back and starts the new execution.
    "query": FunctionAccess(
        tables=(
            TableGrant(WORKFLOWS, ("dynamodb:GetItem", "dynamodb:Scan")),
            TableGrant(EXECUTIONS, ("dynamodb:Query", "dynamodb:BatchGetItem")),
            TableGrant(EXECUTIONS, ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")),
            TableGrant(
                EXECUTIONS,
                ("dynamodb:Query",),
                indexes=("byWorkflowShard", "byStatusShard", "byExecutionId"),
            ),
            TableGrant(SUBSCRIPTIONS, ("dynamodb:Query",)),
            # The delivery log and the subscriptions' health derived from it.
            TableGrant(DELIVERIES, ("dynamodb:Query",)),
        ),
        state_machine_actions=("states:StartExecution",),
        execution_actions=(
            "states:DescribeExecution",
            "states:GetExecutionHistory",
            "states:RedriveExecution",
        ),
    ),
}
