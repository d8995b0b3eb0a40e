"""Reading a synthesized CloudFormation template the way the tests need it."""

from __future__ import annotations

from typing import Any


def render(value: Any) -> Any:
    """Intrinsics made readable: ``{"Ref": "X"}`` -> ``"<X>"``, ``Fn::GetAtt`` -> ``"<X.Arn>"``,
    ``Fn::Join`` joined. Anything else is returned as is (recursively)."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return f"<{value['Ref']}>"
        if set(value) == {"Fn::GetAtt"}:
            return f"<{'.'.join(value['Fn::GetAtt'])}>"
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(render(part)) for part in parts)
        return {key: render(item) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item) for item in value]
    return value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def api_methods(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every API Gateway method by (HTTP method, full resource path)."""
    resources = template["Resources"]
    paths: dict[str, str] = {}

    def path_of(reference: Any) -> str:
        if "Fn::GetAtt" in reference:  # the API's root resource
            return "/"
        logical_id = reference["Ref"]
        if logical_id not in paths:
            properties = resources[logical_id]["Properties"]
            parent = path_of(properties["ParentId"])
            paths[logical_id] = parent.rstrip("/") + "/" + properties["PathPart"]
        return paths[logical_id]

    return {
        (resource["Properties"]["HttpMethod"], path_of(resource["Properties"]["ResourceId"])): (
            resource["Properties"]
        )
        for resource in resources.values()
        if resource["Type"] == "AWS::ApiGateway::Method"
    }


def role_statements(template: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    """The statements of every policy attached to a role, intrinsics rendered, lists sorted."""
    statements = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if {"Ref": role_logical_id} not in resource["Properties"]["Roles"]:
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            rendered = {
                "Effect": statement["Effect"],
                "Action": sorted(as_list(statement["Action"])),
                "Resource": sorted(str(r) for r in as_list(render(statement["Resource"]))),
            }
            if "Condition" in statement:
                rendered["Condition"] = statement["Condition"]
            statements.append(rendered)
    return statements


def role_of_function(template: dict[str, Any], function_logical_id: str) -> str:
    role = template["Resources"][function_logical_id]["Properties"]["Role"]
    return str(role["Fn::GetAtt"][0])
