"""SNS facts written out from the SNS documentation, independently of snsflow's code, so that
tests can check snsflow (and the local SNS) against them rather than against themselves."""

from __future__ import annotations

_CONFIRMATION_KEYS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)

#: The keys whose values are signed, in signing order, per message Type.
SIGNED_KEYS: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _CONFIRMATION_KEYS,
    "UnsubscribeConfirmation": _CONFIRMATION_KEYS,
}
