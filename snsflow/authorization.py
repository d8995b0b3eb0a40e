"""Who may call which route: the authorizer's decision, free of Lambda and DynamoDB details.

A request is allowed when it carries exactly one key value that is well formed, known, neither
revoked nor expired, has the route's scope and — for a webhook — is the key its workflow names.
Key records and workflow records are cached in memory for a few seconds (bounded, least
recently used out first), so a warm instance decides without any read and a revocation takes
effect within that time.

Secrets: the presented value is hashed before any lookup and is never put in a message, a log
record or a model that could print it. The lookup is by hash, so no secret is ever compared
byte by byte against presented input; the one comparison of hashes left is constant-time anyway.
"""

from __future__ import annotations

import hmac
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from snsflow.deliveries import DeliveryLog, SnsHeaders
from snsflow.errors import ForbiddenError, SnsflowError, UnauthorizedError
from snsflow.keys import ApiKey, KeyScope, KeyStatus, hash_key_value, is_well_formed
from snsflow.workflows import is_workflow_id

logger = logging.getLogger(__name__)

#: Query parameter (exact) and header (any case) that carry the key.
API_KEY_PARAMETER = "x-api-key"


@dataclass(frozen=True)
class Route:
    http_method: str
    #: The API Gateway resource template, as in the event's ``resource``.
    resource: str
    scope: KeyScope
    #: The key must be the one the workflow in the path names (``apiKeyName``).
    bound_to_workflow: bool = False


#: Every route the authorizer guards. Anything else is denied. ``GET /`` (the static executions
#: page) is deliberately absent: it carries no data and is served without the authorizer.
ROUTES: tuple[Route, ...] = (
    Route("POST", "/webhooks/{workflowId}", KeyScope.WEBHOOK, bound_to_workflow=True),
    Route("GET", "/workflows", KeyScope.READ),
    Route("GET", "/workflows/{workflowId}", KeyScope.READ),
    Route("GET", "/workflows/{workflowId}/executions", KeyScope.READ),
    Route("GET", "/workflows/{workflowId}/deliveries", KeyScope.READ),
    Route("GET", "/executions/{executionId}", KeyScope.READ),
    Route("GET", "/executions/{executionId}/history", KeyScope.READ),
    Route("GET", "/me", KeyScope.READ),
    Route("POST", "/executions/{executionId}/redrive", KeyScope.OPERATE),
    Route("POST", "/executions/{executionId}/rerun", KeyScope.OPERATE),
)
_ROUTES_BY_METHOD_AND_RESOURCE = {(route.http_method, route.resource): route for route in ROUTES}


@dataclass(frozen=True)
class AccessRequest:
    http_method: str
    resource: str
    #: The ``workflowId`` path parameter, when the route has one.
    workflow_id: str | None
    #: Distinct non-empty key values found in the request; kept out of ``repr``.
    presented_keys: tuple[str, ...] = field(repr=False)
    #: What the request's SNS headers name, and API Gateway's request id: for the delivery
    #: log of a refused webhook request.
    sns: SnsHeaders = field(default_factory=SnsHeaders)
    request_id: str | None = None


class AccessGrant(BaseModel):
    """What the integration learns about the caller (the authorizer context)."""

    model_config = ConfigDict(frozen=True)

    key_name: str
    scope: KeyScope
    #: Empty for routes without a workflow in the path.
    workflow_id: str
    key_prefix: str

    def context(self) -> dict[str, str]:
        """The authorizer context: ``$context.authorizer.<name>`` in the integration."""
        return {
            "keyName": self.key_name,
            "scope": self.scope.value,
            "workflowId": self.workflow_id,
            "keyPrefix": self.key_prefix,
        }


class MissingApiKeyError(UnauthorizedError):
    code = "missing_api_key"


class InvalidApiKeyError(ForbiddenError):
    code = "invalid_api_key"


class ConflictingApiKeysError(ForbiddenError):
    code = "conflicting_api_keys"


class KnownKeyRefusedError(ForbiddenError):
    """A refusal of a key whose record was found: its name goes to the delivery log."""

    def __init__(self, message: str, key_name: str | None = None) -> None:
        super().__init__(message)
        self.key_name = key_name


class RevokedApiKeyError(KnownKeyRefusedError):
    code = "revoked_api_key"


class ExpiredApiKeyError(KnownKeyRefusedError):
    code = "expired_api_key"


class WrongKeyScopeError(KnownKeyRefusedError):
    code = "wrong_key_scope"


class InsufficientScopeError(ForbiddenError):
    """A key that may read, or deliver, calls a route that acts."""

    code = "insufficient_scope"


class KeyNotBoundError(KnownKeyRefusedError):
    code = "key_not_bound"


class RouteNotAllowedError(ForbiddenError):
    code = "route_not_allowed"


class BoundWorkflow(Protocol):
    """The part of a workflow record the authorizer reads."""

    @property
    def api_key_name(self) -> str: ...

    @property
    def workflow_id(self) -> str: ...

    @property
    def allowed_topic_arns(self) -> tuple[str, ...] | None: ...


class AccessRecordSource(Protocol):
    def load(
        self, key_hash: str | None, workflow_id: str | None
    ) -> tuple[ApiKey | None, BoundWorkflow | None]:
        """Read the asked-for records (``None`` skips one) in a single request."""
        ...


class KeyUseRecorder(Protocol):
    def record_use(self, key_hash: str, at: datetime) -> None: ...


Clock = Callable[[], datetime]

_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


class _ExpiringCache(Generic[_Key, _Value]):
    """A bounded map whose entries expire ``ttl`` after they were stored."""

    def __init__(self, ttl: timedelta, max_entries: int) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: OrderedDict[_Key, tuple[datetime, _Value]] = OrderedDict()

    def get(self, key: _Key, now: datetime) -> tuple[_Value] | None:
        """``(value,)`` on a hit — the value itself may be ``None`` (a cached "not found")."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if now >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return (value,)

    def put(self, key: _Key, value: _Value, now: datetime) -> None:
        self._entries[key] = (now + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


def presented_api_keys(
    headers: Mapping[str, Any] | None,
    multi_value_headers: Mapping[str, Any] | None,
    query: Mapping[str, Any] | None,
    multi_value_query: Mapping[str, Any] | None,
) -> tuple[str, ...]:
    """Distinct non-blank key values from the header (name in any case) and the query string."""

    def values(source: Mapping[str, Any] | None, matches: Callable[[str], bool]) -> Iterable[Any]:
        for name, value in (source or {}).items():
            if matches(name):
                yield from value if isinstance(value, list) else (value,)

    def is_header(name: str) -> bool:
        return name.lower() == API_KEY_PARAMETER

    def is_parameter(name: str) -> bool:
        return name == API_KEY_PARAMETER

    found = [
        *values(headers, is_header),
        *values(multi_value_headers, is_header),
        *values(query, is_parameter),
        *values(multi_value_query, is_parameter),
    ]
    return tuple(dict.fromkeys(v for v in found if isinstance(v, str) and v.strip()))


class Authorizer:
    """Decides one request at a time; keep one instance per process (it holds the caches)."""

    def __init__(
        self,
        records: AccessRecordSource,
        usage: KeyUseRecorder,
        clock: Clock,
        cache_ttl: timedelta,
        cache_max_entries: int,
        log: DeliveryLog | None = None,
    ) -> None:
        self._records = records
        self._log = log
        self._usage = usage
        self._clock = clock
        self._keys: _ExpiringCache[str, ApiKey | None] = _ExpiringCache(
            cache_ttl, cache_max_entries
        )
        self._workflows: _ExpiringCache[str, BoundWorkflow | None] = _ExpiringCache(
            cache_ttl, cache_max_entries
        )

    def authorize(self, request: AccessRequest) -> AccessGrant:
        """The grant for ``request``, or an :class:`UnauthorizedError` (no key) or a
        :class:`ForbiddenError` saying why not. A refused webhook request of an existing
        workflow goes to the delivery log (its key's name when the key is known)."""
        try:
            return self._decide(request)
        except (UnauthorizedError, ForbiddenError) as error:
            if self._log is not None:
                self._log_refusal(request, error)
            raise

    def _log_refusal(self, request: AccessRequest, error: SnsflowError) -> None:
        assert self._log is not None
        route = _ROUTES_BY_METHOD_AND_RESOURCE.get((request.http_method, request.resource))
        workflow_id = request.workflow_id
        if route is None or not route.bound_to_workflow or not workflow_id:
            return
        if not is_workflow_id(workflow_id):
            return
        now = self._clock()
        cached = self._workflows.get(workflow_id, now)
        try:
            workflow = cached[0] if cached else self._records.load(None, workflow_id)[1]
        except SnsflowError:
            logger.warning("could not read workflow %s to log a refusal", workflow_id)
            return
        if cached is None:
            self._workflows.put(workflow_id, workflow, now)
        if workflow is not None:
            self._log.refused(
                workflow,
                error.code,
                request.sns,
                request_id=request.request_id,
                key_name=error.key_name if isinstance(error, KnownKeyRefusedError) else None,
            )

    def _decide(self, request: AccessRequest) -> AccessGrant:
        if not request.presented_keys:
            raise MissingApiKeyError(
                "an API key is required: pass it in the x-api-key query parameter or header"
            )
        if len(request.presented_keys) > 1:
            raise ConflictingApiKeysError("the request carries more than one API key value")
        route = _ROUTES_BY_METHOD_AND_RESOURCE.get((request.http_method, request.resource))
        if route is None:
            raise RouteNotAllowedError(
                f"{request.http_method} {request.resource} is not a route API keys grant"
            )
        value = request.presented_keys[0]
        if not is_well_formed(value):
            raise InvalidApiKeyError("the API key is not valid")
        key_hash = hash_key_value(value)
        workflow_id = request.workflow_id if route.bound_to_workflow else None
        if workflow_id is not None and not is_workflow_id(workflow_id):
            raise KeyNotBoundError("the API key is not bound to this workflow")

        now = self._clock()
        key, workflow, key_was_read = self._look_up(key_hash, workflow_id, now)
        if key is None or not hmac.compare_digest(key.key_hash, key_hash):
            raise InvalidApiKeyError("the API key is not valid")
        status = key.status_at(now)
        if status is KeyStatus.REVOKED:
            raise RevokedApiKeyError(f"the API key '{key.name}' has been revoked", key.name)
        if status is KeyStatus.EXPIRED:
            raise ExpiredApiKeyError(
                f"this value of API key '{key.name}' has expired (rotated)", key.name
            )
        if route.scope is KeyScope.OPERATE and key.scope is not KeyScope.OPERATE:
            raise InsufficientScopeError(
                f"the API key '{key.name}' has scope '{key.scope}'; acting on executions needs "
                f"a key of scope '{KeyScope.OPERATE}'"
            )
        if not key.scope.grants(route.scope):
            raise WrongKeyScopeError(
                f"the API key '{key.name}' has scope '{key.scope}'; "
                f"this route needs '{route.scope}'",
                key.name,
            )
        if route.bound_to_workflow and (workflow is None or workflow.api_key_name != key.name):
            raise KeyNotBoundError(
                f"the API key '{key.name}' is not bound to this workflow", key.name
            )
        # Only the invocation that read the record writes, so warm invocations stay read- and
        # write-free; the stored time decides, so all instances together write about once a
        # minute per key.
        if key_was_read and key.use_is_unrecorded_at(now):
            self._record_use(key, now)
        return AccessGrant(
            key_name=key.name,
            scope=key.scope,
            workflow_id=request.workflow_id or "",
            key_prefix=key.display_prefix,
        )

    def _look_up(
        self, key_hash: str, workflow_id: str | None, now: datetime
    ) -> tuple[ApiKey | None, BoundWorkflow | None, bool]:
        """The key and workflow records, from the caches or from one read of both."""
        cached_key = self._keys.get(key_hash, now)
        cached_workflow = self._workflows.get(workflow_id, now) if workflow_id else (None,)
        if cached_key is not None and cached_workflow is not None:
            return cached_key[0], cached_workflow[0], False
        key, workflow = self._records.load(
            None if cached_key is not None else key_hash,
            None if cached_workflow is not None else workflow_id,
        )
        if cached_key is None:
            self._keys.put(key_hash, key, now)
        else:
            key = cached_key[0]
        if cached_workflow is None and workflow_id is not None:
            self._workflows.put(workflow_id, workflow, now)
        elif cached_workflow is not None:
            workflow = cached_workflow[0]
        return key, workflow, cached_key is None

    def _record_use(self, key: ApiKey, now: datetime) -> None:
        try:
            self._usage.record_use(key.key_hash, now)
        except Exception:
            # Bookkeeping must never fail a request; the next read of the key retries it.
            logger.warning("could not record the use of API key '%s'", key.name, exc_info=True)
