"""cdk-nag (AwsSolutions) wiring and acknowledgements.

Findings are acknowledged on the construct they concern, right where it is defined, each with
the reason it is acceptable here. cdk-nag 3 reports through CDK's policy validation: any
unacknowledged finding fails ``cdk synth``.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def check_app(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
