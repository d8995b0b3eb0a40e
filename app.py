#!/usr/bin/env python3
"""The CDK app: ``cdk synth`` / ``cdk deploy`` run this (see cdk.json).

Settings come from CDK context (infra/config.py). A bad setting or workflow file ends synthesis
with one clear line naming it, not a stack trace.
"""

from __future__ import annotations

import sys

from aws_cdk import App

from infra.config import ConfigError, StackConfig
from infra.nag import check_app
from infra.stack import SnsflowStack
from snsflow.workflows import WorkflowFileError


def build_app(app: App | None = None) -> tuple[App, SnsflowStack]:
    """The app with its one stack, checked by cdk-nag's AwsSolutions pack."""
    app = app or App()
    stack = SnsflowStack(app, StackConfig.from_context(app.node.try_get_context))
    check_app(app)
    return app, stack


def main() -> int:
    try:
        app, _ = build_app()
    except (ConfigError, WorkflowFileError) as error:
        print(f"snsflow: {error}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
