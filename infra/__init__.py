"""The CDK app of snsflow: one construct per concern, wired by infra/stack.py."""
