"""A local Amazon SNS: the SNS Query API for boto3, and HTTP/S delivery exactly like SNS.

See ``docs/local-stack.md`` for what it does and what it cannot emulate.
"""

from snsflow.local.sns.dead_letters import DeadLetter, DeadLetterQueues, SqsDeadLetterQueues
from snsflow.local.sns.delivery import DeliveryAttempt, Outcome
from snsflow.local.sns.server import LocalSns
from snsflow.local.sns.signing import SigningIdentity

__all__ = [
    "DeadLetter",
    "DeadLetterQueues",
    "DeliveryAttempt",
    "LocalSns",
    "Outcome",
    "SigningIdentity",
    "SqsDeadLetterQueues",
]
