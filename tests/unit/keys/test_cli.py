"""``snsflow keys`` against moto: the value is printed once and never listed."""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from snsflow import aws
from snsflow.cli.keys import AUTHORIZER_CACHE_TIME
from snsflow.cli.main import main
from snsflow.keys import hash_key_value, is_well_formed
from snsflow.settings import AuthorizerSettings
from snsflow.store.keys import DynamoKeyStore


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_create_prints_the_value_alone_on_stdout_once(
    dynamodb_tables: dict[str, str], key_store: DynamoKeyStore, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "keys", "create", "prod-sns")

    value = out.strip()
    assert code == 0
    assert out.count("\n") == 1
    assert is_well_formed(value)
    assert value not in err
    assert "only time" in err
    stored = key_store.get(hash_key_value(value))
    assert stored is not None
    assert stored.name == "prod-sns"
    assert stored.scope == "webhook"


@pytest.mark.parametrize("scope", ["read", "operate"])
def test_create_with_read_or_operate_scope(
    dynamodb_tables: dict[str, str],
    key_store: DynamoKeyStore,
    capsys: pytest.CaptureFixture[str],
    scope: str,
) -> None:
    _, out, _ = _run(capsys, "keys", "create", "dashboards", "--scope", scope)

    assert key_store.get(hash_key_value(out.strip())).scope == scope  # type: ignore[union-attr]


def test_list_shows_every_column_but_never_the_value(
    dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, first, _ = _run(capsys, "keys", "create", "prod-sns")
    _, second, _ = _run(capsys, "keys", "rotate", "prod-sns", "--grace", "2h")
    _, third, _ = _run(capsys, "keys", "create", "old", "--scope", "read")
    _run(capsys, "keys", "revoke", "old")

    code, out, _ = _run(capsys, "keys", "list")

    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "SCOPE", "PREFIX", "CREATED", "LAST", "USED", "STATUS"]
    assert [line.split()[0] for line in lines[1:]] == ["old", "prod-sns", "prod-sns"]
    assert lines[1].split()[-1] == "revoked"
    assert lines[2].split()[-1] == "active"
    assert second.strip()[:13] in lines[2]
    assert "expiring" in lines[3]
    assert first.strip()[:13] in lines[3]
    for value in (first.strip(), second.strip(), third.strip()):
        assert value not in out


def test_list_as_json(dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    _, created, _ = _run(capsys, "keys", "create", "prod-sns")

    code, out, _ = _run(capsys, "keys", "list", "--json")

    assert code == 0
    [listed] = json.loads(out)
    assert listed["name"] == "prod-sns"
    assert listed["status"] == "active"
    assert listed["prefix"] == created.strip()[:13]
    assert listed["lastUsedAt"] is None
    assert created.strip() not in out


def test_revoke_marks_every_value_revoked(
    dynamodb_tables: dict[str, str], key_store: DynamoKeyStore, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "keys", "create", "prod-sns")
    _run(capsys, "keys", "rotate", "prod-sns")

    code, out, _ = _run(capsys, "keys", "revoke", "prod-sns")

    assert code == 0
    assert "2 value(s)" in out
    assert all(key.revoked_at is not None for key in key_store.named("prod-sns"))


def test_revoking_an_unknown_key_fails_with_a_reason(
    dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "keys", "revoke", "nobody")

    assert code == 1
    assert "no active key named 'nobody'" in err


def test_creating_a_name_in_use_fails(
    dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "keys", "create", "prod-sns")

    code, out, err = _run(capsys, "keys", "create", "prod-sns")

    assert code == 1
    assert out == ""
    assert "already exists" in err


def test_rotate_grace_sets_the_old_values_expiry(
    dynamodb_tables: dict[str, str], key_store: DynamoKeyStore, capsys: pytest.CaptureFixture[str]
) -> None:
    _, old, _ = _run(capsys, "keys", "create", "prod-sns")

    code, new, _ = _run(capsys, "keys", "rotate", "prod-sns", "--grace", "90m")

    assert code == 0
    assert is_well_formed(new.strip())
    assert new != old
    old_key = key_store.get(hash_key_value(old.strip()))
    new_key = key_store.get(hash_key_value(new.strip()))
    assert old_key is not None
    assert new_key is not None
    assert old_key.expires_at is not None
    assert new_key.expires_at is None
    assert (old_key.expires_at - new_key.created_at).total_seconds() == pytest.approx(5400, abs=5)


@pytest.mark.parametrize("grace", ["24", "1w", "-1h", "h", "1.5h"])
def test_a_malformed_grace_is_a_usage_error(
    dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str], grace: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["keys", "rotate", "prod-sns", f"--grace={grace}"])

    assert exited.value.code == 2
    assert "duration" in capsys.readouterr().err


def test_table_named_on_the_command_line_wins(
    dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    other = "other-keys"
    from snsflow.store.tables import KEYS

    aws.dynamodb_client().create_table(**KEYS.create_table_kwargs(other))

    _, out, _ = _run(capsys, "keys", "create", "prod-sns", "--table", other)

    assert DynamoKeyStore(aws.dynamodb_resource().Table(other)).get(hash_key_value(out.strip()))
    assert DynamoKeyStore(aws.dynamodb_resource().Table(dynamodb_tables["Keys"])).all() == []


def _deploy_stack(outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    aws.cloudformation_client().create_stack(StackName="snsflow", TemplateBody=json.dumps(template))


def test_stack_output_names_the_table(
    dynamodb_tables: dict[str, str],
    key_store: DynamoKeyStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SNSFLOW_KEYS_TABLE_NAME")
    _deploy_stack({"KeysTableName": dynamodb_tables["Keys"]})

    code, out, _ = _run(capsys, "keys", "create", "prod-sns", "--stack", "snsflow")

    assert code == 0
    assert key_store.get(hash_key_value(out.strip())) is not None


def test_a_stack_without_the_output_fails_with_a_reason(
    dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _deploy_stack({"SomethingElse": "x"})

    code, _, err = _run(capsys, "keys", "list", "--stack", "snsflow")

    assert code == 1
    assert "has no output 'KeysTableName'" in err


def test_an_unknown_stack_fails_with_a_reason(
    dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "keys", "list", "--stack", "nope")

    assert code == 1
    assert "cannot read stack 'nope'" in err


def test_no_table_anywhere_is_a_usage_error(
    dynamodb_tables: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SNSFLOW_KEYS_TABLE_NAME")

    code, _, err = _run(capsys, "keys", "list")

    assert code == 2
    assert "--table" in err


def test_table_and_stack_together_are_a_usage_error(
    dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["keys", "list", "--table", "a", "--stack", "b"])

    assert exited.value.code == 2


def test_an_unreachable_endpoint_fails_with_a_reason(
    aws_environment: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(
        capsys,
        "keys",
        "list",
        "--table",
        "snsflow-keys",
        "--endpoint-url",
        "http://127.0.0.1:9",
        "--region",
        "eu-west-1",
    )

    assert code == 1
    assert "127.0.0.1:9" in err


@pytest.mark.parametrize("action", [["create", "--scope", "read"], ["revoke"], ["rotate"]])
@pytest.mark.parametrize("name", ["", "a b", "x" * 65])
def test_an_invalid_name_is_a_usage_error_before_any_aws_call(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    action: list[str],
    name: str,
) -> None:
    def no_aws() -> None:
        raise AssertionError("an AWS client was built")

    monkeypatch.setattr(aws, "dynamodb_resource", no_aws)

    with pytest.raises(SystemExit) as exited:
        main(["keys", action[0], name, *action[1:], "--table", "snsflow-keys"])

    assert exited.value.code == 2
    assert f"key name '{name}' is not valid" in capsys.readouterr().err


def test_rotate_without_grace_says_by_when_the_old_values_are_refused(
    dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "keys", "create", "prod-sns")
    before = datetime.now(UTC).replace(microsecond=0)

    code, _, err = _run(capsys, "keys", "rotate", "prod-sns", "--grace", "0")

    assert code == 0
    found = re.search(r"older values are refused by (\S+ \S+) at the latest", err)
    assert found is not None
    refused_by = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%SZ").replace(tzinfo=UTC)
    assert before + AUTHORIZER_CACHE_TIME <= refused_by <= datetime.now(UTC) + timedelta(seconds=6)


def test_the_stated_bound_is_the_authorizer_s_default_cache_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    defaults = AuthorizerSettings.from_environment(
        {
            "SNSFLOW_KEYS_TABLE_NAME": "k",
            "SNSFLOW_WORKFLOWS_TABLE_NAME": "w",
            "SNSFLOW_DELIVERIES_TABLE_NAME": "d",
        }
    )
    seconds = f"{defaults.auth_cache_ttl_seconds:g} s"
    with pytest.raises(SystemExit):
        main(["keys", "rotate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    docs = " ".join(
        (Path(__file__).parents[3] / "docs" / "keys-and-authorizer.md").read_text().split()
    )

    assert timedelta(seconds=defaults.auth_cache_ttl_seconds) == AUTHORIZER_CACHE_TIME
    assert f"they are refused within {seconds}" in help_text
    assert f"`--grace 0` retires the older values within {seconds}" in docs


def _info_file(tmp_path: Path, document: dict[str, object]) -> Path:
    path = tmp_path / "local.json"
    path.write_text(json.dumps({"apiUrl": "http://127.0.0.1:1"} | document))
    return path


def test_the_info_file_names_the_local_table_and_its_region(
    dynamodb_tables: dict[str, str],
    key_store: DynamoKeyStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.delenv("SNSFLOW_KEYS_TABLE_NAME")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    info = _info_file(tmp_path, {"region": "us-east-1", "tables": dynamodb_tables})

    code, out, err = _run(
        capsys, "keys", "create", "reader", "--scope", "read", "--info-file", str(info)
    )

    assert code == 0, err
    assert key_store.get(hash_key_value(out.strip())) is not None


def test_an_info_file_without_a_keys_table_is_a_usage_error(
    dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    info = _info_file(tmp_path, {"region": "us-east-1", "tables": {"Executions": "x-table"}})

    code, _, err = _run(capsys, "keys", "list", "--info-file", str(info))

    assert code == 2
    assert err.startswith(f"snsflow keys: error: {info} names no keys table")
    assert err.count("\n") == 1


def test_an_info_file_with_an_aws_endpoint_that_is_no_url_is_a_usage_error(
    dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    info = _info_file(tmp_path, {"awsEndpoint": "127.0.0.1:8000", "tables": dynamodb_tables})

    code, _, err = _run(capsys, "keys", "list", "--info-file", str(info))

    assert code == 2
    assert "awsEndpoint" in err
    assert "is not an http(s) URL" in err


def test_the_info_file_and_a_table_together_are_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["keys", "list", "--table", "a-table", "--info-file", str(tmp_path / "x.json")])

    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_no_target_and_no_region_says_what_to_pass_before_any_aws_call(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SNSFLOW_KEYS_TABLE_NAME", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)

    def no_aws() -> None:
        raise AssertionError("an AWS client was built")

    monkeypatch.setattr(aws, "dynamodb_resource", functools.cache(no_aws))

    code, out, err = _run(capsys, "keys", "list")

    assert code == 2
    assert out == ""
    assert err.startswith("snsflow keys: error: no keys table: pass ")
    assert err.count("\n") == 1
    for option in ("--stack NAME", "--info-file FILE", "--table NAME"):
        assert option in err
    assert "region" not in err
