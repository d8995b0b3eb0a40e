"""What every table's data access shares: DynamoDB failures as snsflow errors, and stored times.

Times are stored as ISO 8601 UTC text of one fixed width, with milliseconds and a ``Z``
(``2026-03-01T09:00:00.000Z``), so that string order is time order: sort keys and conditions
compare them as strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

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
