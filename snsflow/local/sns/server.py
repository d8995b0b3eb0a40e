"""The local SNS's HTTP server: the Query API, the SubscribeURL / UnsubscribeURL links and the
signing certificate, on one loopback port."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlsplit

from snsflow.local.loopback import LoopbackHttpServer, LoopbackHttpService, QuietRequestHandler
from snsflow.local.sns.backend import EndpointUrls, SnsBackend
from snsflow.local.sns.dead_letters import DeadLetterQueues
from snsflow.local.sns.delivery import DeliveryAttempt, DeliveryWorkers
from snsflow.local.sns.query_api import QueryRequest, handle_query
from snsflow.local.sns.signing import SigningIdentity

LOGGER = logging.getLogger("snsflow.local.sns")
#: Largest API request accepted: a 256 KiB message, URL-encoded, fits comfortably.
MAX_REQUEST_BYTES = 2 * 1024 * 1024


class LocalSns(LoopbackHttpService):
    """A local Amazon SNS: boto3 talks to :attr:`endpoint_url`; HTTP/S subscribers get signed
    deliveries with SNS's confirmation handshake and retry policy.

    ``delay_scale`` multiplies retry delays (0.01 turns SNS's 20 s into 0.2 s);
    ``delivery_timeout`` is how long one POST may take (SNS: 15 s); ``delivery_workers`` bounds
    concurrent deliveries. Endpoints must be loopback URLs unless
    ``allow_non_loopback_endpoints`` is set. ``dead_letters`` receives the notifications that
    a subscription with a ``RedrivePolicy`` could not deliver (without it they are dropped).
    """

    thread_name = "local-sns-http"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = "us-east-1",
        account_id: str = "000000000000",
        *,
        delay_scale: float = 1.0,
        delivery_timeout: float = 15.0,
        delivery_workers: int = 4,
        signing_identity: SigningIdentity | None = None,
        allow_non_loopback_endpoints: bool = False,
        dead_letters: DeadLetterQueues | None = None,
    ) -> None:
        super().__init__(host, port)
        self.region = region
        self.account_id = account_id
        self.signing_identity = signing_identity or SigningIdentity.generate()
        self._allow_non_loopback = allow_non_loopback_endpoints
        self._deliveries = DeliveryWorkers(
            workers=delivery_workers,
            timeout=delivery_timeout,
            delay_scale=delay_scale,
            dead_letters=dead_letters,
        )
        self._backend: SnsBackend | None = None

    def _create_server(self) -> LoopbackHttpServer:
        return _SnsHttpServer((self.host, self.port), self)

    def _started(self) -> None:
        self._backend = SnsBackend(
            region=self.region,
            account_id=self.account_id,
            identity=self.signing_identity,
            urls=EndpointUrls(self.base_url, self.signing_identity.certificate_file_name),
            deliveries=self._deliveries,
            allow_non_loopback_endpoints=self._allow_non_loopback,
        )
        self._deliveries.start(name=f"local-sns:{self.port}")
        LOGGER.info("local SNS listening on %s", self.base_url)

    def _stopped(self) -> None:
        self._deliveries.stop()

    @property
    def backend(self) -> SnsBackend:
        if self._backend is None:
            raise RuntimeError("the local SNS has not been started")
        return self._backend

    # -- addresses -------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        """The ``endpoint_url`` to give boto3 (no trailing slash)."""
        return self.base_url

    @property
    def certificate_url(self) -> str:
        """Where the signing certificate is served (the messages' ``SigningCertURL``)."""
        return f"{self.base_url}/{self.signing_identity.certificate_file_name}"

    @property
    def trusted_cert_url_prefix(self) -> str:
        """The entry a verifier's ``trusted_cert_url_prefixes`` needs to accept this SNS."""
        return f"{self.base_url}/"

    # -- test and demo hooks ---------------------------------------------------------------

    def delivery_log(self) -> list[DeliveryAttempt]:
        """Every delivery attempt so far (the most recent 100,000), oldest first."""
        return self._deliveries.attempts()

    def wait_until_idle(self, timeout: float = 30.0) -> bool:
        """Block until no delivery (or retry) is waiting or running; False on timeout."""
        return self._deliveries.wait_until_idle(timeout)

    def redeliver(self, message_id: str, subscription_arn: str | None = None) -> int:
        """Deliver a published message again, byte for byte, as SNS sometimes does.

        Goes to every subscription that was sent the message (or only ``subscription_arn``),
        with the same MessageId, Timestamp and Signature, under the usual retry policy. Returns
        the number of deliveries started; LookupError if the message is unknown.
        """
        return self.backend.redeliver(message_id, subscription_arn)


class _SnsHttpServer(LoopbackHttpServer):
    def __init__(self, address: tuple[str, int], sns: LocalSns) -> None:
        self.sns = sns
        super().__init__(address, _SnsRequestHandler)


class _SnsRequestHandler(QuietRequestHandler):
    server: _SnsHttpServer
    server_version = "snsflow-local-sns"

    def do_GET(self) -> None:  # noqa: N802 - http.server names handlers do_<METHOD>
        parts = urlsplit(self.path)
        identity = self.server.sns.signing_identity
        if parts.path == f"/{identity.certificate_file_name}":
            self._send(200, "application/x-x509-ca-cert", identity.certificate_pem)
        elif parts.path == "/" and parts.query:
            # SubscribeURL and UnsubscribeURL are plain GETs of the Query API.
            self._query(parts.query)
        else:
            self._send(404, "text/plain; charset=utf-8", b"Not Found")

    def do_POST(self) -> None:  # noqa: N802 - http.server names handlers do_<METHOD>
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > MAX_REQUEST_BYTES:
            self._send(413 if length.isdigit() else 411, "text/plain; charset=utf-8", b"")
            return
        body = self.rfile.read(int(length))
        self._query(body.decode("utf-8", errors="replace"))

    def _query(self, query: str) -> None:
        params = dict(parse_qsl(query, keep_blank_values=True))
        signed = "Authorization" in self.headers or "X-Amz-Signature" in params
        request = QueryRequest(params, authenticated=signed)
        response = handle_query(self.server.sns.backend, request)
        self._send(response.status, "text/xml", response.body)

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
