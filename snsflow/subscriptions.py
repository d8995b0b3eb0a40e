"""Confirming SNS subscriptions: a GET of the strictly validated ``SubscribeURL``.

Why the URL and not the ConfirmSubscription API: the URL works for a topic in any region and
any account with no IAM grant and no per-region client, and the local stack confirms through
the very same code (its SNS is trusted by an explicit setting). It is safe because nothing is
fetched unless the signature was verified *and* the URL is exactly
``https://sns.<topic region>.amazonaws.com/?Action=ConfirmSubscription&TopicArn=<that topic>
&Token=<that token>`` (:func:`~snsflow.sns.validate_subscribe_url`); redirects are not followed,
the timeout is short and the answer is read up to a small cap. The price: the subscription is
not created with ``AuthenticateOnUnsubscribe``, so whoever knows its ARN could unsubscribe it
anonymously — snsflow never reveals the ARN or the ``UnsubscribeURL``, and records every
UnsubscribeConfirmation so that an operator sees it (docs/webhook.md).
"""

from __future__ import annotations

import re
from typing import Protocol

import urllib3

from snsflow.errors import BadRequestError, DependencyUnavailableError
from snsflow.http import BoundedHttpGet, HttpAnswer
from snsflow.sns import SubscriptionConfirmation, validate_subscribe_url

#: SNS answers a confirmation with a short XML document.
MAX_ANSWER_BYTES = 64 * 1024

_SUBSCRIPTION_ARN = re.compile(rb"<SubscriptionArn>([^<]{1,2048})</SubscriptionArn>")
_ERROR_CODE = re.compile(rb"<Code>([A-Za-z0-9.]{1,100})</Code>")


class SubscriptionConfirmationFailedError(DependencyUnavailableError):
    """SNS could not be asked, or failed; SNS retries the SubscriptionConfirmation."""

    code = "subscription_confirmation_failed"


class SubscriptionConfirmationRejectedError(BadRequestError):
    """SNS refused the confirmation (e.g. an invalid or expired token); a retry cannot help."""

    code = "subscription_confirmation_rejected"


class HttpGetter(Protocol):
    def get(self, url: str) -> HttpAnswer:
        """GET ``url`` without following redirects; raise
        :class:`SubscriptionConfirmationFailedError` if no answer came."""
        ...


class UrllibHttpGetter:
    """GETs with urllib3 (shipped with botocore): no retries, no redirects, short timeouts."""

    def __init__(self, *, timeout_seconds: float, max_bytes: int = MAX_ANSWER_BYTES) -> None:
        self._get = BoundedHttpGet(timeout_seconds=timeout_seconds, max_bytes=max_bytes)

    def get(self, url: str) -> HttpAnswer:
        try:
            answer = self._get(url)
        except urllib3.exceptions.HTTPError as error:
            raise SubscriptionConfirmationFailedError(
                f"SNS could not be reached to confirm the subscription: {type(error).__name__}"
            ) from None
        # Only the start of SNS's answer is read (the subscription ARN, or an error code).
        return HttpAnswer(status=answer.status, body=answer.body[: self._get.max_bytes])


class SubscribeUrlConfirmer:
    """Confirms a verified SubscriptionConfirmation by visiting its validated SubscribeURL."""

    def __init__(self, http: HttpGetter, *, trusted_prefixes: tuple[str, ...] = ()) -> None:
        self._http = http
        self._trusted_prefixes = trusted_prefixes

    def confirm(self, confirmation: SubscriptionConfirmation) -> str | None:
        """Confirm the subscription; returns its ARN when SNS's answer names it.

        Raises :class:`~snsflow.sns.SubscribeUrlRejectedError` (403) before any network I/O if
        the URL is not the one it must be, :class:`SubscriptionConfirmationRejectedError` (400)
        if SNS refuses, and :class:`SubscriptionConfirmationFailedError` (503) otherwise.
        """
        url = confirmation.subscribe_url
        validate_subscribe_url(
            url,
            topic_arn=confirmation.topic_arn,
            token=confirmation.token,
            trusted_prefixes=self._trusted_prefixes,
        )
        answer = self._http.get(url)
        if 200 <= answer.status < 300:
            found = _SUBSCRIPTION_ARN.search(answer.body)
            return found.group(1).decode("utf-8", "replace") if found else None
        code = _ERROR_CODE.search(answer.body)
        reason = f"HTTP {answer.status}" + (f" {code.group(1).decode()}" if code else "")
        if 400 <= answer.status < 500 and answer.status != 429:
            raise SubscriptionConfirmationRejectedError(
                f"SNS refused to confirm the subscription to {confirmation.topic_arn}: {reason}"
            )
        raise SubscriptionConfirmationFailedError(
            f"SNS did not confirm the subscription to {confirmation.topic_arn}: {reason}"
        )
