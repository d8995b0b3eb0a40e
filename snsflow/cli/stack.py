"""What the commands that reach a stack share: CloudFormation outputs, the local stack's info
file, the read API over HTTP, and plain-text tables.

The read API is found by ``--api-url``, else the ``apiUrl`` of ``--info-file`` (written by
``snsflow local serve``), else the ``ApiUrl`` output of ``--stack``, else ``SNSFLOW_API_URL``;
its key by ``--api-key``, else the info file's read key, else ``SNSFLOW_API_KEY``. The key
travels in the ``x-api-key`` header, never in the URL, and redirects are not followed (they
would carry the header elsewhere).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError
from botocore.parsers import ResponseParserError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticSerializationError

from snsflow import __version__, aws
from snsflow.actions import ExecutionHistory, RerunResult
from snsflow.cli.arguments import http_url
from snsflow.cli.main import EXIT_FAILED, EXIT_USAGE, first_problem, print_error
from snsflow.delivery_reads import DeliveryPage
from snsflow.errors import SnsflowError
from snsflow.net import is_loopback_host
from snsflow.query import ExecutionDetail, ExecutionPage, WorkflowList, WorkflowView
from snsflow.settings import ApiClientSettings
from snsflow.store.tables import TableSchema

#: The stack output holding the API's base URL (infra/stack.py exports it under this key).
API_URL_OUTPUT = "ApiUrl"
#: Seconds to wait for the API (``SNSFLOW_API_TIMEOUT_SECONDS``).
DEFAULT_TIMEOUT: float = ApiClientSettings.model_fields["api_timeout_seconds"].default
#: Answers larger than this are refused (an execution in full is at most about 1 MB).
MAX_ANSWER_BYTES = 8 * 1024 * 1024
#: Info files larger than this are refused (``snsflow local serve`` writes a few KB).
MAX_INFO_FILE_BYTES = 1024 * 1024


def webhook_url_output(workflow_id: str) -> str:
    """``WebhookUrlOrderEvents`` for ``order-events``: the stack output holding a workflow's
    webhook URL (output names are alphanumeric; infra/stack.py names its outputs with this)."""
    return "WebhookUrl" + "".join(
        part.capitalize() for part in re.split(r"[^a-z0-9]+", workflow_id)
    )


def table_name_output(schema: TableSchema) -> str:
    """``KeysTableName``, ``ExecutionsTableName``...: the stack output naming a table (the CDK
    stack names its outputs with this, and the CLI finds the tables by it)."""
    return f"{schema.logical_name}TableName"


class UsageError(Exception):
    """The command line does not say enough (exit code 2)."""


class ApiRequestError(SnsflowError):
    """The API answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int = 0, code: str = "unreachable") -> None:
        super().__init__(message)
        self.status = status
        self.error_code = code


#: What botocore raises when AWS could not be asked, or its answer could not be read (an
#: endpoint that is not AWS); AWS's own refusals are ``ClientError``.
AWS_FAILURES = (BotoCoreError, ResponseParserError)


def describe_aws_failure(error: BotoCoreError | ResponseParserError) -> str:
    """What went wrong before AWS could answer, on one line and saying what to do."""
    if isinstance(error, ResponseParserError):  # its message goes on with the whole answer
        first_line = str(error).partition("\n")[0]
        return f"the AWS endpoint's answer cannot be read: {first_line}"
    if isinstance(error, NoRegionError):
        return "no AWS region: pass --region REGION or set AWS_REGION"
    if isinstance(error, NoCredentialsError):
        return (
            "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY"
        )
    return " ".join(str(error).split())  # botocore's own words (some span several lines)


def stack_outputs(stack_name: str) -> dict[str, str]:
    """Every output of a deployed CloudFormation stack, by key."""
    try:
        stacks = aws.cloudformation_client().describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        raise SnsflowError(
            f"cannot read stack '{stack_name}': {error.response.get('Error', {}).get('Message')}"
        ) from error
    return {
        output["OutputKey"]: output["OutputValue"]
        for output in (stacks[0].get("Outputs", []) if stacks else [])
        if "OutputKey" in output and "OutputValue" in output
    }


def stack_output(stack_name: str, output_key: str) -> str:
    """The value of one output of a deployed CloudFormation stack."""
    return required_output(stack_name, stack_outputs(stack_name), output_key)


def required_output(stack_name: str, outputs: Mapping[str, str], output_key: str) -> str:
    """One of the ``outputs`` of stack ``stack_name``, which must have it."""
    value = outputs.get(output_key)
    if value is None:
        raise SnsflowError(f"stack '{stack_name}' has no output '{output_key}'")
    return value


class LocalWorkflowInfo(BaseModel):
    """One workflow of the info file: where SNS posts for it, and the key it names."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    webhook_url: str = Field(alias="webhookUrl", min_length=1)
    api_key_name: str = Field(alias="apiKeyName", min_length=1)


def _endpoint(text: str) -> str:
    """An endpoint boto3 can be pointed at (it refuses anything else with a bare ValueError)."""
    try:
        return http_url(text)
    except argparse.ArgumentTypeError as error:
        raise ValueError(str(error)) from None


class LocalStackInfo(BaseModel):
    """The part of the info file of ``snsflow local serve`` the CLI reads."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    api_url: str = Field(alias="apiUrl", min_length=1)
    #: The local SNS's endpoint (boto3's ``endpoint_url``) and region.
    sns_endpoint: Annotated[str, AfterValidator(_endpoint)] | None = Field(
        default=None, alias="snsEndpoint"
    )
    region: str | None = None
    #: moto's endpoint (DynamoDB, Step Functions, SQS) and the tables: logical name -> name.
    aws_endpoint: Annotated[str, AfterValidator(_endpoint)] | None = Field(
        default=None, alias="awsEndpoint"
    )
    tables: dict[str, str] = Field(default_factory=dict)
    workflows: dict[str, LocalWorkflowInfo] = Field(default_factory=dict)
    #: Key name -> value, for every key the local stack created.
    keys: dict[str, str] = Field(default_factory=dict)
    #: Which of ``keys`` is the read key, and which the operate key.
    read_key_name: str | None = Field(default=None, alias="readKeyName")
    operate_key_name: str | None = Field(default=None, alias="operateKeyName")
    #: The firewall's key-prefix set (a WAF regex pattern set in moto), when it has one.
    key_prefix_set_arn: str | None = Field(default=None, alias="keyPrefixSetArn")

    @property
    def read_key(self) -> str | None:
        return self.keys.get(self.read_key_name) if self.read_key_name else None

    @property
    def operate_key(self) -> str | None:
        return self.keys.get(self.operate_key_name) if self.operate_key_name else None


def read_info_file(path: Path) -> LocalStackInfo:
    try:
        with path.open("rb") as file:
            content = file.read(MAX_INFO_FILE_BYTES + 1)
    except OSError as error:
        raise UsageError(f"cannot read the info file {path}: {error.strerror}") from None
    if len(content) > MAX_INFO_FILE_BYTES:
        raise UsageError(f"{path} is not a local stack info file: it is too large")
    try:
        return LocalStackInfo.model_validate_json(content)
    except ValidationError as error:
        raise UsageError(f"{path} is not a local stack info file: {first_problem(error)}") from None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # the 3xx surfaces as an HTTPError


class ReadApi:
    """The read routes of the HTTP API, over urllib."""

    def __init__(self, api_url: str, api_key: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        try:
            http_url(api_url)
        except argparse.ArgumentTypeError as error:
            raise UsageError(f"the API's URL: {error}") from None
        if not is_visible_ascii(api_key):
            raise UsageError(
                "the read key holds characters an HTTP header cannot carry (a key is snsf_ "
                "followed by 43 letters, digits, '-' or '_')"
            )
        parts = urllib.parse.urlsplit(api_url)
        if parts.query or parts.fragment:
            # Paths are appended to it: a query or fragment (a pasted webhook URL with its key,
            # say) would end up in the middle of every request.
            # Not echoed: the query may hold a key.
            raise UsageError("the API's URL is its base URL: it takes no query or fragment")
        self.api_url = api_url.rstrip("/")
        self._key = api_key
        self._timeout = timeout
        handlers: list[urllib.request.BaseHandler] = [_NoRedirects()]
        if is_loopback_host(parts.hostname):  # the local stack: never through a proxy
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    def post(
        self, path: str, headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """POST with an empty body (the action routes take none): the status and the answer."""
        return self._request("POST", path, (), headers, data=b"")

    def get(self, path: str, params: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        return self._request("GET", path, params)[1]

    def _request(
        self,
        method: str,
        path: str,
        params: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
    ) -> tuple[int, dict[str, Any]]:
        url = self.api_url + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            url,
            data=data,
            method=method,
            headers={
                "x-api-key": self._key,
                "Accept": "application/json",
                "User-Agent": f"snsflow-cli/{__version__}",
                **(headers or {}),
            },
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                return response.status, _json_object(response.read(MAX_ANSWER_BYTES + 1))
        except urllib.error.HTTPError as error:
            raise _api_error(error) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, TimeoutError):
                raise ApiRequestError(
                    f"the API at {self.api_url} did not answer within {self._timeout:g} s"
                ) from None
            raise ApiRequestError(f"cannot reach the API at {self.api_url}: {reason}") from None
        except http.client.HTTPException as error:  # a broken status line, a cut-short body
            raise ApiRequestError(
                f"the API at {self.api_url} answered with broken HTTP ({type(error).__name__})"
            ) from None

    def workflows(self) -> WorkflowList:
        return _answer(WorkflowList, self.get("/workflows"))

    def workflow(self, workflow_id: str) -> WorkflowView:
        return _answer(WorkflowView, self.get(f"/workflows/{_segment(workflow_id)}"))

    def executions(
        self,
        workflow_id: str,
        *,
        statuses: Iterable[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        next_token: str | None = None,
    ) -> ExecutionPage:
        params: list[tuple[str, str]] = [("status", status) for status in statuses]
        for name, moment in (("since", since), ("until", until)):
            if moment is not None:
                params.append((name, moment.astimezone(UTC).isoformat()))
        if limit is not None:
            params.append(("limit", str(limit)))
        if next_token:
            params.append(("nextToken", next_token))
        path = f"/workflows/{_segment(workflow_id)}/executions"
        return _answer(ExecutionPage, self.get(path, params))

    def execution(self, execution_id: str) -> ExecutionDetail:
        return _answer(ExecutionDetail, self.get(f"/executions/{_segment(execution_id)}"))

    def history(self, execution_id: str, next_token: str | None = None) -> ExecutionHistory:
        params = [("nextToken", next_token)] if next_token else []
        path = f"/executions/{_segment(execution_id)}/history"
        return _answer(ExecutionHistory, self.get(path, params))

    def redrive(self, execution_id: str, idempotency_key: str | None = None) -> ExecutionDetail:
        path = f"/executions/{_segment(execution_id)}/redrive"
        return _answer(ExecutionDetail, self.post(path, _idempotency(idempotency_key))[1])

    def rerun(self, execution_id: str, idempotency_key: str | None = None) -> RerunResult:
        return self.rerun_request(execution_id, idempotency_key)[0]

    def rerun_request(
        self, execution_id: str, idempotency_key: str | None = None
    ) -> tuple[RerunResult, bool]:
        """The re-run, and whether this request started it (201) rather than an earlier one
        with the same Idempotency-Key (200)."""
        path = f"/executions/{_segment(execution_id)}/rerun"
        status, document = self.post(path, _idempotency(idempotency_key))
        return _answer(RerunResult, document), status == 201

    def me(self) -> Caller:
        return _answer(Caller, self.get("/me"))

    def deliveries(
        self,
        workflow_id: str,
        *,
        outcome: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        next_token: str | None = None,
    ) -> DeliveryPage:
        params: list[tuple[str, str]] = [("outcome", outcome)] if outcome else []
        if since is not None:
            params.append(("since", since.astimezone(UTC).isoformat()))
        if limit is not None:
            params.append(("limit", str(limit)))
        if next_token:
            params.append(("nextToken", next_token))
        path = f"/workflows/{_segment(workflow_id)}/deliveries"
        return _answer(DeliveryPage, self.get(path, params))


class Caller(BaseModel):
    """``GET /me``: the key's name and scope."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    key_name: str = Field(alias="keyName")
    scope: str


def _idempotency(key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": key} if key else {}


def is_visible_ascii(value: str) -> bool:
    """What a key value can be to travel in a header or a URL as it is: http.client refuses
    non-Latin-1 text and line breaks, and a server trims spaces."""
    return value.isascii() and value.isprintable() and " " not in value


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


_Answer = TypeVar("_Answer", bound=BaseModel)


def _answer(model: type[_Answer], document: dict[str, Any]) -> _Answer:
    try:
        answer = model.model_validate(document)
        # What is printed must print: a time UTC cannot hold passes validation, not --json.
        answer.model_dump(mode="json")
    except ValidationError as error:
        raise ApiRequestError(
            f"the API's answer is not what snsflow {__version__} expects: {first_problem(error)}"
        ) from None
    except PydanticSerializationError as error:
        raise ApiRequestError(
            f"the API's answer is not what snsflow {__version__} expects: {error}"
        ) from None
    return answer


def _json_object(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_ANSWER_BYTES:
        raise ApiRequestError("the API's answer is too large")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to read
        raise ApiRequestError("the API's answer is not JSON") from None
    if not isinstance(body, dict):
        raise ApiRequestError("the API's answer is not a JSON object")
    return body


def _api_error(error: urllib.error.HTTPError) -> ApiRequestError:
    try:
        detail = json.loads(error.read(64 * 1024)).get("error", {})
        code, message = str(detail["code"]), str(detail["message"])
    except (
        ValueError,
        RecursionError,
        KeyError,
        TypeError,
        AttributeError,
        OSError,
        http.client.HTTPException,
    ):
        code, message = f"http_{error.code}", str(error.reason)
        location = error.headers.get("Location") if 300 <= error.code < 400 else None
        if location:  # redirects are not followed: the key's header would go along
            message = f"the API redirects to {location}; use that URL"
    return ApiRequestError(f"{message} ({code}, HTTP {error.code})", status=error.code, code=code)


def add_api_arguments(parser: argparse.ArgumentParser) -> None:
    """``--api-url``, ``--api-key``, ``--info-file``, ``--stack``, ``--region``."""
    parser.add_argument("--api-url", metavar="URL", help="the API's base URL")
    parser.add_argument(
        "--api-key",
        metavar="VALUE",
        help="an API key: read, or operate to act (default: SNSFLOW_API_KEY)",
    )
    parser.add_argument(
        "--info-file",
        type=Path,
        metavar="FILE",
        help="the info file of 'snsflow local serve' (its API URL and keys)",
    )
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help=f"a deployed stack; its output {API_URL_OUTPUT} is the API's URL",
    )
    parser.add_argument("--region", help="AWS region of --stack (default: from the environment)")


def read_api(
    args: argparse.Namespace, *, operate: bool = False
) -> tuple[ReadApi, LocalStackInfo | None]:
    """The API named on the command line, the info file, the stack or the environment; with
    ``operate``, the info file's operate key rather than its read key."""
    info = read_info_file(args.info_file) if args.info_file else None
    try:
        settings = ApiClientSettings()
    except ValidationError as error:
        raise UsageError(first_problem(error)) from None
    api_url = args.api_url or (info.api_url if info else None)
    if not api_url and args.stack:
        aws.configure(region_name=args.region)
        try:
            api_url = stack_output(args.stack, API_URL_OUTPUT)
        except AWS_FAILURES as error:  # no region, no credentials, not AWS
            raise SnsflowError(
                f"cannot read stack '{args.stack}': {describe_aws_failure(error)} "
                "(or name the API: --api-url URL or --info-file FILE)"
            ) from None
    api_url = api_url or settings.api_url
    if not api_url:
        raise UsageError(
            "no API: pass --api-url URL, --info-file FILE or --stack NAME, or set SNSFLOW_API_URL"
        )
    scope = "operate" if operate else "read"
    api_key = (
        args.api_key
        or ((info.operate_key if operate else info.read_key) if info else None)
        or (settings.api_key.get_secret_value() if settings.api_key else None)
    )
    if not api_key:
        raise UsageError(
            f"no {scope} key: pass --api-key VALUE or --info-file FILE, or set "
            f"SNSFLOW_API_KEY (create one: snsflow keys create NAME --scope {scope})"
        )
    return ReadApi(api_url, api_key, timeout=settings.api_timeout_seconds), info


Command = Callable[[argparse.Namespace, ReadApi, LocalStackInfo | None], int]


def run_with_api(
    group: str, command: Command, *, operate: bool = False
) -> Callable[[argparse.Namespace], int]:
    """Resolve the API (with an operate key for ``operate`` commands), run ``command``, and
    turn failures into exit codes."""

    def run(args: argparse.Namespace) -> int:
        try:
            api, info = read_api(args, operate=operate)
            return command(args, api, info)
        except UsageError as error:
            print_error(f"snsflow {group}", f"error: {error}")
            return EXIT_USAGE
        except SnsflowError as error:
            print_error(f"snsflow {group}", error.message)
            return EXIT_FAILED

    return run


def render_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart, trailing blanks trimmed."""
    table = [tuple(header), *(tuple(row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]


def show_time(moment: datetime | None) -> str:
    """``2026-03-01 10:00:00Z``; a time UTC cannot hold (a misbehaving API's), as it came."""
    if moment is None:
        return "-"
    try:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except OverflowError:
        return moment.isoformat()
