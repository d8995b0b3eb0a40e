"""The local stack's stand-ins for AWS, on loopback HTTP: an SNS and an API gateway.

See ``docs/local-stack.md``.
"""
