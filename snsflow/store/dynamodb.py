"""What every table's data access shares: DynamoDB failures as snsflow errors, and stored times.

Times are stored as ISO 8601 UTC text of one fixed width, with milliseconds and a ``Z``
(``2026-03-01T09:00:00.000Z``), so that string order is time order: sort keys and conditions
compare them as strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from botocore.parsers import ResponseParserError

from snsflow.clock import as_utc
from snsflow.errors import DependencyUnavailableError

#: Error codes of DynamoDB that mean "try again later" (left after botocore's own retries).
_TRANSIENT_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)


def format_time(moment: datetime) -> str:
    """A time as stored: ISO 8601 UTC, milliseconds, ``Z``; fixed width, so it sorts as it
    should. Anything below the millisecond is dropped. ValueError for a time without a time
    zone or outside the years 1 to 9999 in UTC (:func:`snsflow.clock.as_utc`)."""
    # isoformat, not strftime: strftime's %Y does not pad years before 1000 to four digits.
    utc = as_utc(moment).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_conditional_check_failure(error: ClientError) -> bool:
    return error_code(error) == "ConditionalCheckFailedException"


@contextmanager
def dynamodb_errors(action: str) -> Iterator[None]:
    """Turn a transient DynamoDB failure into :class:`DependencyUnavailableError` (503).

    Anything else (a missing table, missing permissions, a rejected condition) propagates
    unchanged: it is a bug or a deployment problem, not something a retry fixes.
    """
    try:
        yield
    except ClientError as error:
        code = error_code(error)
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _TRANSIENT_ERROR_CODES or status >= 500:
            raise DependencyUnavailableError(
                f"DynamoDB is unavailable: could not {action} ({code})"
            ) from error
        raise
    except NoCredentialsError:
        raise  # a deployment problem, like a missing table: no retry finds credentials
    except (BotoCoreError, ResponseParserError) as error:
        # botocore's message says what failed (e.g. the endpoint that could not be reached);
        # a parser error goes on with the whole answer, hence its first line only.
        reason = str(error).partition("\n")[0]
        raise DependencyUnavailableError(
            f"DynamoDB is unavailable: could not {action} ({type(error).__name__}: {reason})"
        ) from error


def shard_key_condition(
    partition_attribute: str,
    partition: str,
    *,
    since: str | None = None,
    until: str | None = None,
    sort_attribute: str = "receivedAt",
) -> dict[str, Any]:
    """A Query's key condition on one partition and an inclusive sort-key range, as plain
    expression strings: the parameters to pass to ``Table.query``.

    Not boto3's ``Key(...)`` conditions: a resource builds those with one placeholder counter
    per client, so queries built at once on several threads (the shards of a scatter-gather)
    swap each other's names and values ("Query condition missed key schema element").
    """
    expression = "#partition = :partition"
    values: dict[str, str] = {":partition": partition}
    if since is not None and until is not None:
        expression += " AND #sort BETWEEN :since AND :until"
        values |= {":since": since, ":until": until}
    elif since is not None:
        expression += " AND #sort >= :since"
        values[":since"] = since
    elif until is not None:
        expression += " AND #sort <= :until"
        values[":until"] = until
    names = {"#partition": partition_attribute}
    if len(values) > 1:
        names["#sort"] = sort_attribute
    return {
        "KeyConditionExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
