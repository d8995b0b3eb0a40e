"""``snsflow workflows`` and ``snsflow executions`` over real HTTP on loopback.

A tiny server stands in for API Gateway: it checks the read key as the authorizer would (header
only, exact value), turns each request into a REST proxy event and calls the query Lambda.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from functions.query import handler
from snsflow.cli import executions as executions_cli
from snsflow.cli.executions import Watcher, watch
from snsflow.cli.main import main
from snsflow.cli.stack import ReadApi
from snsflow.store.executions import ExecutionStatus, StatusChange
from tests.integration.query.conftest import READ_GRANT, QueryStack, message_id
from tests.support.apigw import LambdaContext, rest_request_event

READ_KEY = "snsf_" + "r" * 43
WEBHOOK_KEY = "snsf_" + "w" * 43
_ROUTES = [
    (re.compile(r"/"), "/", ()),
    (re.compile(r"/workflows"), "/workflows", ()),
    (re.compile(r"/workflows/([^/]+)"), "/workflows/{workflowId}", ("workflowId",)),
    (
        re.compile(r"/workflows/([^/]+)/executions"),
        "/workflows/{workflowId}/executions",
        ("workflowId",),
    ),
    (re.compile(r"/executions/([^/]+)"), "/executions/{executionId}", ("executionId",)),
]


@dataclass
class LoopbackApi:
    url: str
    #: Every request line the server saw (path and query).
    requests: list[str] = field(default_factory=list)


class _Gateway(BaseHTTPRequestHandler):
    api: LoopbackApi

    def do_GET(self) -> None:
        self.api.requests.append(self.path)
        parts = urlsplit(self.path)
        if self.headers.get("x-api-key") != READ_KEY:
            return self._answer(403, {"error": {"code": "invalid_api_key", "message": "no"}})
        for pattern, resource, names in _ROUTES:
            match = pattern.fullmatch(parts.path)
            if match:
                parameters = {n: unquote(v) for n, v in zip(names, match.groups(), strict=True)}
                query: dict[str, str | list[str]] = dict(parse_qs(parts.query).items())
                event = rest_request_event(
                    "GET",
                    resource,
                    parameters or None,
                    query=query,
                    headers={"Host": self.headers["Host"], "X-Forwarded-Proto": "http"},
                    authorizer=READ_GRANT,
                )
                # As the local gateway: no stage in the path, the Host as the domain.
                event["requestContext"] |= {"path": parts.path, "domainName": self.headers["Host"]}
                response = handler.lambda_handler(event, LambdaContext())  # type: ignore[arg-type]
                return self._answer(response["statusCode"], json.loads(response["body"]))
        return self._answer(403, {"error": {"code": "route_not_allowed", "message": "no"}})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def loopback_api(query_stack: QueryStack) -> Iterator[LoopbackApi]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    api = LoopbackApi(f"http://127.0.0.1:{server.server_address[1]}")
    _Gateway.api = api
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield api
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def info_file(loopback_api: LoopbackApi, tmp_path: Path) -> Path:
    """The info file as ``snsflow local serve`` writes it."""
    path = tmp_path / "local.json"
    path.write_text(
        json.dumps(
            {
                "apiUrl": loopback_api.url,
                "snsEndpoint": "http://127.0.0.1:1/",
                "keys": {"prod-sns": WEBHOOK_KEY, "audit-sns": "snsf_a", "local-read": READ_KEY},
                "readKeyName": "local-read",
                "workflows": {},
            }
        )
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def history(query_stack: QueryStack, recent: datetime) -> dict[str, str]:
    """Three runs of order-events (a success, a failure, one running), one of audit-log."""
    return {
        "succeeded": query_stack.seed(
            "order-events",
            1,
            ExecutionStatus.SUCCEEDED,
            recent,
            subject="order paid",
            output='{"outcome": "accepted"}',
        ),
        "failed": query_stack.seed(
            "order-events",
            2,
            ExecutionStatus.FAILED,
            recent + timedelta(minutes=1),
            error="PaymentError",
            cause='{"errorMessage": "card declined"}',
        ),
        "running": query_stack.seed(
            "order-events", 3, ExecutionStatus.RUNNING, recent + timedelta(minutes=2)
        ),
        "audit": query_stack.seed("audit-log", 4, ExecutionStatus.SUCCEEDED, recent),
    }


def test_executions_list_prints_a_table_newest_first(
    loopback_api: LoopbackApi, history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "executions",
        "list",
        "order-events",
        "--api-url",
        loopback_api.url,
        "--api-key",
        READ_KEY,
    )

    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == [
        "WORKFLOW",
        "STATUS",
        "TRIGGER",
        "START",
        "END",
        "DURATION",
        "EXECUTION",
        "ID",
    ]
    assert [row.split()[1] for row in rows] == ["RUNNING", "FAILED", "SUCCEEDED"]
    assert rows[2].split()[-1] == history["succeeded"]
    assert "orders: order paid" in rows[2]
    assert "2.5s" in rows[2]
    assert all(READ_KEY not in line for line in loopback_api.requests)  # header only


def test_executions_list_filters_and_says_how_to_continue(
    info_file: Path, history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    where = ("executions", "list", "order-events", "--info-file", str(info_file))
    code, out, err = run(
        capsys,
        *where,
        "--status",
        "failed",
        "--status",
        "SUCCEEDED,RUNNING",
        "--since",
        "1d",
        "--limit",
        "2",
    )

    assert code == 0
    assert [line.split()[-1] for line in out.splitlines()[1:]] == [
        history["running"],
        history["failed"],
    ]
    # The relative --since is spelled out: the token only goes with the filters it was made for.
    hint = re.fullmatch(r"\(more: (.*)\)\n", err)
    assert hint is not None, err
    assert hint.group(1).startswith("--status failed,SUCCEEDED,RUNNING --since 20")

    code, rest, _ = run(capsys, *where, *hint.group(1).split(), "--json")

    assert code == 0
    assert json.loads(rest) == {
        "items": [json.loads(rest)["items"][0]],
        "nextToken": None,
    }
    assert json.loads(rest)["items"][0]["executionId"] == history["succeeded"]


def test_executions_list_pages_through_the_api_up_to_the_limit(
    loopback_api: LoopbackApi,
    query_stack: QueryStack,
    recent: datetime,
    capsys: pytest.CaptureFixture[str],
) -> None:
    query_stack.seed_many("order-events", 57, recent)

    code, out, err = run(
        capsys,
        "executions",
        "list",
        "order-events",
        "--api-url",
        loopback_api.url,
        "--api-key",
        READ_KEY,
        "--limit",
        "150",
    )

    assert code == 0
    assert len(out.splitlines()) == 1 + 57
    assert "more" not in err
    pages = [line for line in loopback_api.requests if "/executions" in line]
    assert len(pages) == 1  # 57 fit in one page of the API's largest size (100)


def test_executions_show_prints_the_error_input_and_sns_message(
    info_file: Path, history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "executions", "show", history["failed"], "--info-file", str(info_file)
    )

    assert code == 0
    assert f"Execution      {history['failed']}" in out
    assert "Status         FAILED" in out
    assert "Console        https://us-east-1.console.aws.amazon.com/states/home" in out
    error = out.split("Error:\n", 1)[1]
    assert error.startswith('  PaymentError\n  {\n    "errorMessage": "card declined"')
    assert '"orderId": 2' in out.split("Input:\n", 1)[1]
    assert '"Type": "Notification"' in out.split("SNS message:\n", 1)[1]


def test_executions_show_of_an_unknown_id_fails_with_the_reason(
    info_file: Path, query_stack: QueryStack, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "executions", "show", "order-events.missing", "--info-file", str(info_file)
    )

    assert code == 1
    assert out == ""
    assert "execution_not_found" in err
    assert "HTTP 404" in err


def test_workflows_show_prints_the_ready_to_paste_endpoint_with_a_known_key(
    info_file: Path, loopback_api: LoopbackApi, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "workflows", "show", "order-events", "--info-file", str(info_file))

    webhook = f"{loopback_api.url}/webhooks/order-events"
    assert code == 0
    assert f"Webhook URL     {webhook}\n" in out
    assert f"SNS endpoint    {webhook}?x-api-key={WEBHOOK_KEY}\n" in out
    assert "Subscription    none yet" in out


def test_workflows_show_without_the_key_value_says_how_to_get_it(
    loopback_api: LoopbackApi, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("workflows", "show", "order-events", "--api-url", loopback_api.url)
    code, out, err = run(capsys, *argv, "--api-key", READ_KEY)
    _, given, _ = run(capsys, *argv, "--api-key", READ_KEY, "--webhook-key", "snsf_given")

    assert code == 0
    assert "?x-api-key=<value of API key 'prod-sns'>" in out
    assert "--webhook-key" in err
    assert "?x-api-key=snsf_given\n" in given


def test_workflows_list_counts_each_status(
    info_file: Path, history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "workflows", "list", "--info-file", str(info_file))

    assert code == 0
    header, audit, orders = out.splitlines()
    assert header.split()[:4] == ["ID", "NAME", "API", "KEY"]
    assert orders.split()[:5] == ["order-events", "Order", "events", "prod-sns", "none"]
    assert orders.split()[-6:] == ["0", "1", "1", "1", "0", "0"]
    assert audit.split()[-6:] == ["0", "0", "1", "0", "0", "0"]


def test_the_environment_names_the_api(
    loopback_api: LoopbackApi,
    query_stack: QueryStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SNSFLOW_API_URL", loopback_api.url)
    monkeypatch.setenv("SNSFLOW_API_KEY", READ_KEY)

    code, out, _ = run(capsys, "workflows", "list", "--json")

    assert code == 0
    assert [w["id"] for w in json.loads(out)["items"]] == ["audit-log", "order-events"]


def test_a_refused_key_fails_with_the_api_s_reason(
    loopback_api: LoopbackApi, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "workflows", "list", "--api-url", loopback_api.url, "--api-key", WEBHOOK_KEY
    )

    assert code == 1
    assert "invalid_api_key" in err
    assert WEBHOOK_KEY not in err


def test_no_api_named_anywhere_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SNSFLOW_API_URL", raising=False)

    code, _, err = run(capsys, "workflows", "list", "--api-key", READ_KEY)

    assert code == 2
    assert "--api-url" in err


def test_an_unreachable_api_fails_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    server.server_close()  # nothing listens there any more

    code, _, err = run(capsys, "workflows", "list", "--api-url", url, "--api-key", READ_KEY)

    assert code == 1
    assert f"cannot reach the API at {url}" in err


def test_watch_prints_new_executions_and_changes_of_status_once(
    loopback_api: LoopbackApi, query_stack: QueryStack, history: dict[str, str]
) -> None:
    out = io.StringIO()
    watcher = Watcher(ReadApi(loopback_api.url, READ_KEY), "order-events", [], out)
    now = datetime.now(UTC)
    pauses: list[float] = []

    def between_polls(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 1:  # a new run arrives and the running one ends
            query_stack.seed("order-events", 5, ExecutionStatus.RUNNING, now)
            query_stack.records.change_status(
                "order-events",
                message_id(3),
                StatusChange(
                    status=ExecutionStatus.SUCCEEDED,
                    execution_arn="arn:aws:states:us-east-1:123456789012:execution:sm:3",
                    stopped_at=now,
                ),
            )

    watch(watcher, interval=0.5, backlog=10, max_polls=3, sleep=between_polls)

    assert pauses == [0.5, 0.5]
    header, *lines = out.getvalue().splitlines()
    assert header.split()[:2] == ["WORKFLOW", "STATUS"]
    assert [(line.split()[1], line.split()[-1]) for line in lines] == [
        ("SUCCEEDED", history["succeeded"]),
        ("FAILED", history["failed"]),
        ("RUNNING", history["running"]),
        ("SUCCEEDED", history["running"]),
        ("RUNNING", "order-events." + message_id(5)),
    ]


def test_watch_command_stops_after_its_polls(
    info_file: Path, history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "executions",
        "watch",
        "order-events",
        "--info-file",
        str(info_file),
        "--status",
        "FAILED",
        "--interval",
        "0",
        "--max-polls",
        "2",
    )

    assert code == 0
    _header, only = out.splitlines()
    assert only.split()[1] == "FAILED"
    assert only.split()[-1] == history["failed"]


def test_ctrl_c_ends_a_watch_with_success(
    info_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(executions_cli, "watch", interrupted)

    code, _, _ = run(capsys, "executions", "watch", "order-events", "--info-file", str(info_file))

    assert code == 0
