"""The local stack's stand-ins for AWS, on loopback HTTP: an SNS and an API gateway.

See ``docs/local-stack.md``.
"""

from snsflow.local.gateway import LocalApiGateway, LocalLambdaContext, Route
from snsflow.local.sns import DeliveryAttempt, LocalSns, Outcome, SigningIdentity

__all__ = [
    "DeliveryAttempt",
    "LocalApiGateway",
    "LocalLambdaContext",
    "LocalSns",
    "Outcome",
    "Route",
    "SigningIdentity",
]
