"""The whole of snsflow on one machine: what ``snsflow local serve`` and ``snsflow demo`` run.

One process holds:

* **moto** in server mode on a loopback port — DynamoDB, SQS (subscriptions' dead-letter
  queues), and Step Functions with real execution of the workflows' ASL (switched on through
  moto's config API);
* the resources the CDK stack deploys, made from the same definitions: the tables from
  ``ALL_TABLES``, one state machine per workflow file (``load_workflows``), the registry items
  (``WorkflowRecord.from_workflow``), plus every key a workflow names and one read key;
* the five functions, each loaded from ``functions/<name>/handler.py`` the way Lambda loads a
  handler from its asset root (a fresh module per stack: a cold start), configured through the
  ``SNSFLOW_*`` variables the CDK stack sets;
* the local API gateway (the routes of ``snsflow.authorization.ROUTES`` and the executions
  page) with the deployed stage's throttle and, in front of it, the firewall's rules
  (``snsflow.firewall``) and its key-prefix set (a WAF regex pattern set, in moto), the local
  SNS, and the EventBridge stand-ins: status events and the reconciler's schedule.

The environment, moto's global state and the AWS client factory are process-wide, so one local
stack runs per process at a time; ``stop()`` puts all three back as they were.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import secrets
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from snsflow import aws
from snsflow.authorization import ROUTES
from snsflow.definitions import deployed_definition
from snsflow.firewall import (
    DEFAULT_THROTTLE_BURST_LIMIT,
    DEFAULT_THROTTLE_RATE_LIMIT,
    KEY_PREFIX_SET_DESCRIPTION,
    OPEN_PATTERNS,
    Firewall,
    FirewallSettings,
    GatedKeyStore,
    KeyPrefixSync,
    SyncResult,
    firewall_rules,
)
from snsflow.gateway_responses import GATEWAY_ERRORS, PAGE_ROUTE
from snsflow.keys import KeyScope, KeyStore, create_key
from snsflow.local.events import Schedule, StatusEventPump
from snsflow.local.gateway import (
    LambdaHandler,
    LocalApiGateway,
    LocalLambdaContext,
    Route,
    StageThrottle,
)
from snsflow.local.loopback import SHUTDOWN_POLL_SECONDS
from snsflow.local.redrive import LocalRedrive
from snsflow.local.sns import LocalSns, SqsDeadLetterQueues
from snsflow.settings import FUNCTION_SETTINGS, environment_variable
from snsflow.store.keys import DynamoKeyStore
from snsflow.store.tables import ALL_TABLES
from snsflow.store.workflows import WorkflowRecord, WorkflowRegistry
from snsflow.wafv2 import WafRegexPatternSet
from snsflow.workflows import Workflow, load_workflows

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

LOGGER = logging.getLogger("snsflow.local")

#: The checkout the local stack runs from: its handlers and example workflows.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = PROJECT_ROOT / "functions"
DEFAULT_WORKFLOWS_DIR = PROJECT_ROOT / "workflows"
#: The read key and the operate key created at start, beside the keys the workflows name.
READ_KEY_NAME = "local-read"
OPERATE_KEY_NAME = "local-operate"
#: Names of the local resources: ``<prefix>-<table or workflow>``.
RESOURCE_PREFIX = "snsflow-local"
#: Step Functions limits state machine names to 80 characters.
_MAX_STATE_MACHINE_NAME = 80
_LOOPBACK_HOSTS = "127.0.0.1,localhost,::1"

_T = TypeVar("_T")


class LocalStackError(Exception):
    """The local stack cannot start; the message says why."""


@dataclass(frozen=True)
class LocalStackConfig:
    workflows_dir: Path = DEFAULT_WORKFLOWS_DIR
    #: Where the API and the SNS listen (moto always listens on 127.0.0.1).
    host: str = "127.0.0.1"
    #: 0: a free port.
    api_port: int = 0
    sns_port: int = 0
    region: str = "us-east-1"
    #: The account the example workflows pin their topics to, so that they accept the local
    #: SNS's topics as they are.
    account_id: str = "123456789012"
    #: Multiplies SNS's retry delays (0.05: SNS's 20 s become 1 s).
    sns_delay_scale: float = 0.05
    #: How often the status events stand-in looks at the executions.
    status_poll_seconds: float = 0.2
    #: The reconciler's schedule (AWS: every few minutes).
    reconcile_every_seconds: float = 10.0
    #: The functions' log level (``POWERTOOLS_LOG_LEVEL``); their logs are JSON on stdout.
    function_log_level: str = "WARNING"
    #: The stage's throttle, per method, as deployed (``throttleRateLimit``,
    #: ``throttleBurstLimit``): requests per second and burst; over it, 503.
    throttle_rate_limit: float = DEFAULT_THROTTLE_RATE_LIMIT
    throttle_burst_limit: int = DEFAULT_THROTTLE_BURST_LIMIT
    #: The firewall's rules in front of the gateway, as deployed (``wafEnabled``,
    #: ``keyPrefixGate``, ``sourceIpLimit``; None: what the stage serves in a minute).
    firewall_enabled: bool = True
    key_prefix_gate: bool = True
    source_ip_limit: int | None = None
    #: How stale the firewall's copy of the key-prefix set may be (WAF too takes a moment).
    key_prefix_refresh_seconds: float = 0.5

    @property
    def firewall_settings(self) -> FirewallSettings:
        return FirewallSettings(
            key_prefix_gate=self.key_prefix_gate,
            source_ip_limit=self.source_ip_limit,
            throttle_rate_limit=self.throttle_rate_limit,
        )


@dataclass(frozen=True)
class LocalWorkflow:
    """A workflow as deployed locally, with the addresses SNS needs."""

    id: str
    name: str
    api_key_name: str
    state_machine_arn: str
    state_machine_type: str
    webhook_url: str
    #: ``<webhookUrl>?x-api-key=<key>``: the endpoint to subscribe.
    sns_endpoint: str

    def to_info(self) -> dict[str, str]:
        return {
            "name": self.name,
            "webhookUrl": self.webhook_url,
            "apiKeyName": self.api_key_name,
            "snsEndpoint": self.sns_endpoint,
            "stateMachineArn": self.state_machine_arn,
        }


def state_machine_name(workflow_id: str) -> str:
    name = f"{RESOURCE_PREFIX}-{workflow_id}"
    if len(name) > _MAX_STATE_MACHINE_NAME:
        raise LocalStackError(f"workflow id '{workflow_id}' makes a state machine name too long")
    return name


def table_name(logical_name: str) -> str:
    return f"{RESOURCE_PREFIX}-{logical_name.lower()}"


def function_environment(
    *,
    tables: Mapping[str, str],
    trusted_sns_url_prefix: str,
    pagination_secret: str,
    log_level: str,
    account_id: str,
    moto_port: int,
) -> dict[str, str | None]:
    """Every environment variable the local stack sets (None: removed while it runs).

    The functions read their settings once, on first use, from the environment — as in Lambda,
    where it is fixed per deployment. So it is filled here, in one place, before any function is
    loaded; the same ``SNSFLOW_*`` variables as the CDK stack sets, plus the local trust of the
    local SNS's certificate and SubscribeURL, which the AWS deployment never sets.
    """
    no_proxy = ",".join(filter(None, (os.environ.get("NO_PROXY"), _LOOPBACK_HOSTS)))
    return {
        **{
            environment_variable(schema.settings_field): tables[schema.logical_name]
            for schema in ALL_TABLES
        },
        environment_variable("pagination_secret"): pagination_secret,
        environment_variable("trusted_sns_url_prefixes"): json.dumps([trusted_sns_url_prefix]),
        # What the deployed functions get besides their settings (infra/functions.py), with
        # metrics and traces off: there is no CloudWatch or X-Ray to send them to.
        "POWERTOOLS_SERVICE_NAME": RESOURCE_PREFIX,
        "POWERTOOLS_LOG_LEVEL": log_level,
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        # moto answers for this account; clients sign with throwaway credentials, never the
        # developer's own (nothing here may reach AWS).
        "MOTO_ACCOUNT_ID": account_id,
        # Where moto's Step Functions sends the service integrations of the states it runs
        # (the EXPRESS workflows' DynamoDB writes): moto itself, not AWS.
        "MOTO_PORT": str(moto_port),
        "AWS_ACCESS_KEY_ID": "snsflow-local",
        "AWS_SECRET_ACCESS_KEY": "snsflow-local",  # moto accepts any
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        # Loopback traffic never goes through a proxy the developer may have configured.
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


class _EnvironmentOverride:
    """Sets variables and puts the previous values back."""

    def __init__(self, values: Mapping[str, str | None]) -> None:
        self._values = dict(values)
        self._saved: dict[str, str | None] = {}

    def apply(self) -> None:
        for name, value in self._values.items():
            self._saved[name] = os.environ.get(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def restore(self) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved.clear()


def load_function(name: str, functions_dir: Path = FUNCTIONS_DIR) -> ModuleType:
    """``functions/<name>/handler.py`` as a new module, as Lambda imports ``handler`` from the
    function's asset root: every load is a cold start that reads the settings afresh."""
    path = functions_dir / name / "handler.py"
    if not path.is_file():
        raise LocalStackError(
            f"{path} not found: the local stack runs from a snsflow checkout (make setup)"
        )
    module_name = f"_{RESOURCE_PREFIX.replace('-', '_')}_{name}_handler"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise LocalStackError(f"{path} cannot be loaded as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # as an import does: the module can find itself
    spec.loader.exec_module(module)
    return module


class _OneRequestAtATime:
    """Serves one moto request at a time.

    DynamoDB applies every request atomically. moto changes an item in place, attribute by
    attribute, in whichever thread serves the request (an upsert even stores the empty item
    first), so a concurrent query could read half a write and two conditional writes could both
    pass. Serialising the requests gives back DynamoDB's atomicity.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))  # the whole answer, under the lock


class MotoServer:
    """moto in server mode on a free loopback port, with Step Functions executing the ASL."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.url = ""
        self.redrive = LocalRedrive(DomainDispatcherApplication(create_backend_app))

    def start(self) -> None:
        # Werkzeug prints a line per request to stderr unless its logger is quietened.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # moto logs every failed execution at ERROR: a workflow that fails is not an error here.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        # What moto's ThreadedMotoServer builds, with requests served one at a time, and
        # RedriveExecution (moto has none).
        app = _OneRequestAtATime(self.redrive)
        server = make_server(self._host, 0, app, threaded=True, request_handler=MotoRequestHandler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name="local-moto",
            daemon=True,
        )
        self._thread.start()
        self.port = server.server_port
        self.url = f"http://{self._host}:{self.port}"
        # moto's state is process-wide: begin from nothing, with executions really run.
        self._moto_api("reset")
        self._moto_api("config", {"stepfunctions": {"execute_state_machine": True}})

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        # Leave moto as found: empty, with its default (executions are not run).
        self._moto_api("reset")
        self._moto_api("config", {"stepfunctions": {"execute_state_machine": False}})
        server.shutdown()
        thread.join()
        server.server_close()
        self._server = self._thread = None

    def _moto_api(self, action: str, body: object = None) -> None:
        request = urllib.request.Request(  # noqa: S310 - our own loopback URL
            f"{self.url}/moto-api/{action}",
            data=json.dumps(body or {}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            response.read()


def _invoker(
    handler: LambdaHandler, function: str, config: LocalStackConfig
) -> Callable[[dict[str, Any]], object]:
    """An asynchronous invocation (EventBridge target): the event and a fresh context."""

    def invoke(event: dict[str, Any]) -> object:
        context = LocalLambdaContext(
            f"{RESOURCE_PREFIX}-{function}", region=config.region, account_id=config.account_id
        )
        return handler(event, context)

    return invoke


_ACTIVE = threading.Lock()


class _PropagatedPatterns:
    """The firewall's view of the key-prefix set: re-read at most every ``max_age`` seconds (by
    one request at a time; the others use the copy they have), as WAF propagates a change."""

    def __init__(self, prefix_set: WafRegexPatternSet, max_age: float) -> None:
        self._prefix_set = prefix_set
        self._max_age = max_age
        self._patterns: tuple[str, ...] = OPEN_PATTERNS
        self._read_at = float("-inf")
        self._refreshing = threading.Lock()

    def __call__(self) -> tuple[str, ...]:
        if time.monotonic() - self._read_at >= self._max_age and self._refreshing.acquire(
            blocking=False
        ):
            try:
                self._patterns = self._prefix_set.read().patterns
                self._read_at = time.monotonic()
            finally:
                self._refreshing.release()
        return self._patterns


@dataclass
class _Running:
    moto: MotoServer
    sns: LocalSns
    gateway: LocalApiGateway
    workflows: list[LocalWorkflow]
    keys: dict[str, str]
    tables: dict[str, str]
    key_prefix_set: WafRegexPatternSet | None
    cleanup: ExitStack = field(default_factory=ExitStack)


class LocalStack:
    """Start with :meth:`start` (or ``with``), stop with :meth:`stop`."""

    def __init__(self, config: LocalStackConfig | None = None) -> None:
        self.config = config or LocalStackConfig()
        self._running: _Running | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        if self._running is not None:
            raise RuntimeError("the local stack is already running")
        workflows = load_workflows(self.config.workflows_dir)  # a bad file fails before anything
        if not _ACTIVE.acquire(blocking=False):
            raise LocalStackError("another local stack is running in this process")
        with ExitStack() as cleanup:
            cleanup.callback(_ACTIVE.release)
            self._running = self._start(workflows, cleanup)
            self._running.cleanup = cleanup.pop_all()
        return self

    def _start(self, workflows: list[Workflow], cleanup: ExitStack) -> _Running:
        config = self.config
        started = time.monotonic()
        moto = MotoServer()
        moto.start()
        cleanup.callback(moto.stop)
        sns = LocalSns(
            config.host,
            config.sns_port,
            config.region,
            config.account_id,
            delay_scale=config.sns_delay_scale,
            # moto's SQS: the client factory points at moto by the time a delivery gives up.
            dead_letters=SqsDeadLetterQueues(aws.sqs_client),
        )
        sns.start()
        cleanup.callback(sns.stop)
        tables = {schema.logical_name: table_name(schema.logical_name) for schema in ALL_TABLES}
        self._configure_process(moto, sns, tables, cleanup)

        _create_tables(tables)
        arns = _deploy_workflows(workflows, tables, config.account_id)
        # The key-prefix set exists where the deployed stack has one: a firewall with the gate.
        gated = config.firewall_enabled and config.key_prefix_gate
        prefix_set = _create_key_prefix_set() if gated else None
        key_store = _key_store(tables["Keys"], prefix_set)
        keys = _create_keys(workflows, key_store)
        handlers = _load_functions(cleanup)
        gateway = LocalApiGateway(
            _routes(handlers),
            handlers["authorizer"],
            config.host,
            config.api_port,
            region=config.region,
            account_id=config.account_id,
            authorizer_function_name=f"{RESOURCE_PREFIX}-authorizer",
            gateway_responses=GATEWAY_ERRORS,
            firewall=self._firewall(prefix_set),
            throttle=StageThrottle(config.throttle_rate_limit, config.throttle_burst_limit),
        )
        gateway.start()
        cleanup.callback(gateway.stop)
        standard = [arns[w.id] for w in workflows if w.state_machine.type == "STANDARD"]
        self._start_events(standard, handlers, moto, cleanup)
        # Callbacks run last-registered first: the SNS stops first (no delivery reaches a
        # stopped gateway), the environment and moto last. (Its earlier callback is a no-op.)
        cleanup.callback(sns.stop)

        local_workflows = [
            _local_workflow(workflow, arns[workflow.id], gateway.base_url, keys)
            for workflow in workflows
        ]
        LOGGER.info("local stack started in %.1f s", time.monotonic() - started)
        return _Running(moto, sns, gateway, local_workflows, keys, tables, prefix_set)

    def _firewall(self, prefix_set: WafRegexPatternSet | None) -> Firewall | None:
        config = self.config
        if not config.firewall_enabled:
            return None
        rules = firewall_rules(config.firewall_settings)
        if prefix_set is None:  # no gate: no rule reads the set
            return Firewall(rules, lambda: OPEN_PATTERNS)
        return Firewall(rules, _PropagatedPatterns(prefix_set, config.key_prefix_refresh_seconds))

    def _configure_process(
        self, moto: MotoServer, sns: LocalSns, tables: Mapping[str, str], cleanup: ExitStack
    ) -> None:
        """The environment the functions read their settings from, and the client factory."""
        environment = _EnvironmentOverride(
            function_environment(
                tables=tables,
                trusted_sns_url_prefix=sns.trusted_cert_url_prefix,
                pagination_secret=secrets.token_urlsafe(48),
                log_level=self.config.function_log_level,
                account_id=self.config.account_id,
                moto_port=moto.port,
            )
        )
        environment.apply()
        cleanup.callback(environment.restore)
        _check_settings()
        # The reconciler checks subscriptions with the local SNS, as the deployed one does with SNS.
        aws.configure(
            endpoint_url=moto.url, region_name=self.config.region, sns_endpoint_url=sns.endpoint_url
        )
        cleanup.callback(aws.configure)

    def _start_events(
        self,
        state_machine_arns: list[str],
        handlers: Mapping[str, LambdaHandler],
        moto: MotoServer,
        cleanup: ExitStack,
    ) -> None:
        """The EventBridge rules: status changes to the status function (a redriven
        execution's too), the reconciler's schedule."""
        config = self.config
        pump = StatusEventPump(
            aws.stepfunctions_client(),
            state_machine_arns,
            _invoker(handlers["status"], "status", config),
            region=config.region,
            account_id=config.account_id,
            poll_interval=config.status_poll_seconds,
        )
        moto.redrive.on_redrive(pump.watch_again)
        pump.start()
        cleanup.callback(pump.stop)
        schedule = Schedule(
            f"{RESOURCE_PREFIX}-reconcile",
            config.reconcile_every_seconds,
            _invoker(handlers["reconciler"], "reconciler", config),
            region=config.region,
            account_id=config.account_id,
        )
        schedule.start()
        cleanup.callback(schedule.stop)

    def stop(self) -> None:
        """Stop everything this stack started and put the process back as it was; idempotent."""
        running, self._running = self._running, None
        if running is not None:
            running.cleanup.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what runs where ---------------------------------------------------------------------

    @property
    def _state(self) -> _Running:
        if self._running is None:
            raise RuntimeError("the local stack is not running")
        return self._running

    @property
    def running(self) -> bool:
        return self._running is not None

    @property
    def api_url(self) -> str:
        return self._state.gateway.base_url

    @property
    def sns(self) -> LocalSns:
        return self._state.sns

    @property
    def sns_endpoint(self) -> str:
        """The ``endpoint_url`` for boto3's SNS client."""
        return self._state.sns.endpoint_url

    @property
    def aws_endpoint(self) -> str:
        """moto: the ``endpoint_url`` for DynamoDB and Step Functions clients."""
        return self._state.moto.url

    @property
    def keys(self) -> dict[str, str]:
        """Key name -> value, for every key created at start."""
        return dict(self._state.keys)

    @property
    def read_key(self) -> str:
        return self._state.keys[READ_KEY_NAME]

    @property
    def operate_key(self) -> str:
        return self._state.keys[OPERATE_KEY_NAME]

    @property
    def key_prefix_set_arn(self) -> str | None:
        """The firewall's key-prefix set (in moto); None without a firewall."""
        prefix_set = self._state.key_prefix_set
        return prefix_set.arn if prefix_set is not None else None

    def key_store(self) -> KeyStore:
        """The keys table as ``snsflow keys`` keeps it: a new key value is admitted by the
        firewall before it is stored. Call :meth:`sync_firewall` after revoking or rotating."""
        return _key_store(self._state.tables["Keys"], self._state.key_prefix_set)

    def sync_firewall(self) -> SyncResult | None:
        """Make the key-prefix set admit the valid webhook keys, then the revoked or expired
        ones that fit (``snsflow keys sync-firewall``); None without a firewall."""
        prefix_set = self._state.key_prefix_set
        if prefix_set is None:
            return None
        return _key_prefix_sync(self._state.tables["Keys"], prefix_set).sync()

    @property
    def tables(self) -> dict[str, str]:
        """Logical name -> table name."""
        return dict(self._state.tables)

    @property
    def workflows(self) -> list[LocalWorkflow]:
        return list(self._state.workflows)

    def workflow(self, workflow_id: str) -> LocalWorkflow:
        for workflow in self._state.workflows:
            if workflow.id == workflow_id:
                return workflow
        raise KeyError(workflow_id)

    def info(self) -> dict[str, Any]:
        """The info file's document (``--info-file``)."""
        return {
            "apiUrl": self.api_url,
            "executionsPageUrl": f"{self.api_url}/",
            "snsEndpoint": self.sns_endpoint,
            "awsEndpoint": self.aws_endpoint,
            "region": self.config.region,
            "accountId": self.config.account_id,
            "keys": self.keys,
            "readKeyName": READ_KEY_NAME,
            "operateKeyName": OPERATE_KEY_NAME,
            "tables": self.tables,
            "keyPrefixSetArn": self.key_prefix_set_arn,
            "workflows": {workflow.id: workflow.to_info() for workflow in self.workflows},
        }

    def write_info_file(self, path: Path) -> None:
        """Write :meth:`info` to ``path`` at once (readers never see half a file), readable by
        the owner only: it holds key values."""
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(self.info(), file, indent=2)
            file.write("\n")
        temporary.replace(path)


# -- start-up steps ------------------------------------------------------------------------------


def _check_settings() -> None:
    """Every function's settings accept the environment (a clear error now, not at a request)."""
    for name, settings in FUNCTION_SETTINGS.items():
        try:
            settings()
        except ValueError as error:
            raise LocalStackError(f"the {name} function refuses its settings: {error}") from error


def _create_tables(tables: Mapping[str, str]) -> None:
    client = aws.dynamodb_client()
    for schema in ALL_TABLES:
        name = tables[schema.logical_name]
        client.create_table(**schema.create_table_kwargs(name))
        if schema.ttl_attribute is not None:
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": schema.ttl_attribute},
            )


def _deploy_workflows(
    workflows: Iterable[Workflow], tables: Mapping[str, str], account_id: str
) -> dict[str, str]:
    """One state machine per workflow, with the definition the CDK stack deploys, each written
    to the registry; returns id -> ARN."""
    client = aws.stepfunctions_client()
    registry = WorkflowRegistry(aws.dynamodb_resource().Table(tables["Workflows"]))
    role_arn = f"arn:aws:iam::{account_id}:role/{RESOURCE_PREFIX}-states"
    arns: dict[str, str] = {}
    for workflow in workflows:
        arn = client.create_state_machine(
            name=state_machine_name(workflow.id),
            definition=json.dumps(
                deployed_definition(workflow, executions_table_name=tables["Executions"])
            ),
            roleArn=role_arn,
            type=workflow.state_machine.type,
        )["stateMachineArn"]
        registry.put(WorkflowRecord.from_workflow(workflow, arn))
        arns[workflow.id] = arn
    return arns


def _create_key_prefix_set() -> WafRegexPatternSet:
    """The firewall's key-prefix set, as the CDK stack creates it: open until the first sync."""
    created = aws.wafv2_client().create_regex_pattern_set(
        Name=f"{RESOURCE_PREFIX}-webhook-key-prefixes",
        Scope="REGIONAL",
        Description=KEY_PREFIX_SET_DESCRIPTION,
        RegularExpressionList=[{"RegexString": pattern} for pattern in OPEN_PATTERNS],
    )
    return WafRegexPatternSet(aws.wafv2_client(), created["Summary"]["ARN"])


def _key_prefix_sync(keys_table: str, prefix_set: WafRegexPatternSet) -> KeyPrefixSync:
    store = DynamoKeyStore(aws.dynamodb_resource().Table(keys_table))
    return KeyPrefixSync(store, prefix_set, clock=lambda: datetime.now(UTC))


def _key_store(keys_table: str, prefix_set: WafRegexPatternSet | None) -> KeyStore:
    store = DynamoKeyStore(aws.dynamodb_resource().Table(keys_table))
    if prefix_set is None:
        return store
    return GatedKeyStore(store, _key_prefix_sync(keys_table, prefix_set))


def _create_keys(workflows: Iterable[Workflow], store: KeyStore) -> dict[str, str]:
    """A webhook key for every key name a workflow names, the read key and the operate key."""
    wanted = {workflow.trigger.api_key_name: KeyScope.WEBHOOK for workflow in workflows}
    for name, scope in ((READ_KEY_NAME, KeyScope.READ), (OPERATE_KEY_NAME, KeyScope.OPERATE)):
        if name in wanted:
            raise LocalStackError(
                f"a workflow names the key '{name}', which the local stack keeps for {scope} keys"
            )
        wanted[name] = scope
    now = datetime.now(UTC)
    return {
        name: create_key(store, name, scope, now).value.get_secret_value()
        for name, scope in wanted.items()
    }


def _routes(handlers: Mapping[str, LambdaHandler]) -> list[Route]:
    """The deployed API's routes: each key scope's routes to its function, and the page."""
    function_of_scope = {
        KeyScope.WEBHOOK: "webhook",
        KeyScope.READ: "query",
        KeyScope.OPERATE: "query",
    }
    routes = [
        Route(
            route.http_method,
            route.resource,
            handlers[function_of_scope[route.scope]],
            function_name=f"{RESOURCE_PREFIX}-{function_of_scope[route.scope]}",
        )
        for route in ROUTES
    ]
    method, resource = PAGE_ROUTE
    routes.append(
        Route(
            method,
            resource,
            handlers["query"],
            authorized=False,
            function_name=f"{RESOURCE_PREFIX}-query",
        )
    )
    return routes


def _local_workflow(
    workflow: Workflow, arn: str, api_url: str, keys: Mapping[str, str]
) -> LocalWorkflow:
    webhook_url = f"{api_url}/webhooks/{workflow.id}"
    key = keys[workflow.trigger.api_key_name]
    return LocalWorkflow(
        id=workflow.id,
        name=workflow.name,
        api_key_name=workflow.trigger.api_key_name,
        state_machine_arn=arn,
        state_machine_type=workflow.state_machine.type,
        webhook_url=webhook_url,
        sns_endpoint=f"{webhook_url}?x-api-key={key}",
    )


def _load_functions(cleanup: ExitStack) -> dict[str, LambdaHandler]:
    """Every function's ``lambda_handler``, by function name; unloaded at stop."""
    handlers: dict[str, LambdaHandler] = {}
    for name in FUNCTION_SETTINGS:
        module = load_function(name)
        cleanup.callback(sys.modules.pop, module.__name__, None)
        handlers[name] = one_instance(module.lambda_handler)
    return handlers


def one_instance(handler: LambdaHandler) -> LambdaHandler:
    """``handler`` as one Lambda instance runs it: one invocation at a time, leaving no metrics
    behind.

    The gateway serves requests on threads, but a function's module state is an instance's
    and Lambda never gives an instance two invocations at once: Powertools' resolver keeps the
    request it resolves on the app (two at once answered one workflow's listing with another's),
    and the authorizer's cache and the delivery log's counters are the instance's own.

    Locally metrics are off (``POWERTOOLS_METRICS_DISABLED``), and Powertools then never
    flushes, so never clears, its per-process metric set: every 100 values it would print one
    EMF document mixing many invocations' metrics and metadata. In Lambda the flush at the end
    of each invocation clears it; here this does.
    """

    shared_metric_set = Metrics()  # every Metrics object shares the one set of the process
    invocation = threading.Lock()

    def invoke(event: dict[str, Any], context: LambdaContext) -> Any:
        with invocation:
            try:
                return handler(event, context)
            finally:
                shared_metric_set.clear_metrics()

    return invoke


def wait_until(
    condition: Callable[[], _T | None],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "the condition",
) -> _T:
    """Poll ``condition`` until it returns something truthy, and return that; TimeoutError
    naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
