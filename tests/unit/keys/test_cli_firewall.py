"""``snsflow keys`` keeps the firewall's key-prefix set in step (moto): found by
``--key-prefix-set``, the stack's output or the info file; admitted before storing; synced after
every change; ``sync-firewall`` alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snsflow import aws
from snsflow.cli.main import main
from snsflow.firewall import CLOSED_PATTERNS, OPEN_PATTERNS, key_prefix_pattern
from snsflow.keys import display_prefix
from snsflow.store.keys import DynamoKeyStore
from snsflow.wafv2 import WafRegexPatternSet
from tests.unit.keys.test_key_prefix_set import create_pattern_set


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def prefix_set(dynamodb_tables: dict[str, str]) -> WafRegexPatternSet:
    return create_pattern_set()


def _admitted(prefix_set: WafRegexPatternSet, *values: str) -> tuple[str, ...]:
    return tuple(sorted(key_prefix_pattern(display_prefix(v)) for v in values))


def test_create_admits_the_new_webhook_key(
    prefix_set: WafRegexPatternSet, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "keys", "create", "prod-sns", "--key-prefix-set", prefix_set.arn)

    assert code == 0
    assert prefix_set.read().patterns == _admitted(prefix_set, out.strip())
    assert "The firewall admits 1 valid webhook key value(s)." in err


def test_read_keys_do_not_enter_the_set(
    prefix_set: WafRegexPatternSet, capsys: pytest.CaptureFixture[str]
) -> None:
    _, webhook, _ = _run(capsys, "keys", "create", "prod-sns", "--key-prefix-set", prefix_set.arn)
    code, _, _ = _run(
        capsys, "keys", "create", "reader", "--scope", "read", "--key-prefix-set", prefix_set.arn
    )

    assert code == 0
    assert prefix_set.read().patterns == _admitted(prefix_set, webhook.strip())


def test_rotate_admits_both_values_and_revoke_keeps_them_for_the_authorizer(
    prefix_set: WafRegexPatternSet, capsys: pytest.CaptureFixture[str]
) -> None:
    _, first, _ = _run(capsys, "keys", "create", "prod-sns", "--key-prefix-set", prefix_set.arn)
    _, second, _ = _run(
        capsys, "keys", "rotate", "prod-sns", "--grace", "1h", "--key-prefix-set", prefix_set.arn
    )
    rotated = prefix_set.read().patterns

    code, _, err = _run(capsys, "keys", "revoke", "prod-sns", "--key-prefix-set", prefix_set.arn)

    assert set(rotated) == set(_admitted(prefix_set, first.strip(), second.strip()))
    assert code == 0
    assert set(prefix_set.read().patterns) == set(rotated)
    assert "admits 0 valid webhook key value(s) and 2 revoked or expired" in err


def test_revoke_leaked_takes_every_value_of_the_key_out_of_the_set(
    prefix_set: WafRegexPatternSet, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ("--key-prefix-set", prefix_set.arn)
    _, other, _ = _run(capsys, "keys", "create", "audit-sns", *where)
    _run(capsys, "keys", "create", "prod-sns", *where)
    _run(capsys, "keys", "rotate", "prod-sns", "--grace", "1h", *where)

    code, out, err = _run(capsys, "keys", "revoke", "prod-sns", "--leaked", *where)

    assert code == 0
    assert "Marked leaked" in out
    assert prefix_set.read().patterns == _admitted(prefix_set, other.strip())
    assert "admits 1 valid webhook key value(s)." in err


def test_a_key_revoked_earlier_can_be_marked_leaked_later(
    prefix_set: WafRegexPatternSet, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ("--key-prefix-set", prefix_set.arn)
    _, value, _ = _run(capsys, "keys", "create", "prod-sns", *where)
    _run(capsys, "keys", "revoke", "prod-sns", *where)
    kept = prefix_set.read().patterns

    codes = [_run(capsys, "keys", "revoke", "prod-sns", "--leaked", *where)[0] for _ in range(2)]
    listed = _run(capsys, "keys", "list", "--json", *where)[1]

    assert kept == _admitted(prefix_set, value.strip())
    assert codes == [0, 0]  # a retry changes nothing and fails nothing
    assert prefix_set.read().patterns == CLOSED_PATTERNS
    assert json.loads(listed)[0]["leakedAt"] is not None


def test_rotate_leaked_without_grace_takes_the_older_value_out_at_once(
    prefix_set: WafRegexPatternSet, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ("--key-prefix-set", prefix_set.arn)
    _run(capsys, "keys", "create", "prod-sns", *where)

    code, new, _ = _run(capsys, "keys", "rotate", "prod-sns", "--grace", "0", "--leaked", *where)
    table = _run(capsys, "keys", "list", *where)[1]

    assert code == 0
    assert prefix_set.read().patterns == _admitted(prefix_set, new.strip())
    assert "expired, leaked" in table


def test_create_pushes_out_the_oldest_revoked_value_and_says_so(
    key_store: DynamoKeyStore, prefix_set: WafRegexPatternSet, capsys: pytest.CaptureFixture[str]
) -> None:
    values = []
    for n in range(10):
        code, out, _ = _run(capsys, "keys", "create", f"k{n}", "--key-prefix-set", prefix_set.arn)
        assert code == 0
        values.append(out.strip())
    assert _run(capsys, "keys", "revoke", "k0", "--key-prefix-set", prefix_set.arn)[0] == 0

    code, out, err = _run(capsys, "keys", "create", "k10", "--key-prefix-set", prefix_set.arn)

    assert code == 0
    assert set(prefix_set.read().patterns) == set(_admitted(prefix_set, *values[1:], out.strip()))
    assert "no room is left" in err
    assert "values of 'k0'" in err
    assert "invalid_api_key" in err


def test_the_stacks_outputs_name_the_table_and_the_set(
    dynamodb_tables: dict[str, str],
    prefix_set: WafRegexPatternSet,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SNSFLOW_KEYS_TABLE_NAME")
    outputs = {"KeysTableName": dynamodb_tables["Keys"], "WebhookKeyPrefixSetArn": prefix_set.arn}
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    aws.cloudformation_client().create_stack(StackName="snsflow", TemplateBody=json.dumps(template))

    code, out, _ = _run(capsys, "keys", "create", "prod-sns", "--stack", "snsflow")

    assert code == 0
    assert prefix_set.read().patterns == _admitted(prefix_set, out.strip())


def test_the_info_file_names_the_table_and_the_set(
    dynamodb_tables: dict[str, str],
    prefix_set: WafRegexPatternSet,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    info = tmp_path / "local.json"
    info.write_text(
        json.dumps(
            {
                "apiUrl": "http://127.0.0.1:1",
                "region": "us-east-1",
                "tables": {"Keys": dynamodb_tables["Keys"]},
                "keyPrefixSetArn": prefix_set.arn,
            }
        )
    )

    code, out, _ = _run(capsys, "keys", "create", "extra-sns", "--info-file", str(info))

    assert code == 0
    assert prefix_set.read().patterns == _admitted(prefix_set, out.strip())


def test_sync_firewall_closes_a_set_never_synced(
    key_store: DynamoKeyStore, prefix_set: WafRegexPatternSet, capsys: pytest.CaptureFixture[str]
) -> None:
    _, value, _ = _run(capsys, "keys", "create", "prod-sns")  # no set named: not admitted
    assert prefix_set.read().patterns == OPEN_PATTERNS

    code, _, err = _run(capsys, "keys", "sync-firewall", "--key-prefix-set", prefix_set.arn)
    again, _, err_again = _run(capsys, "keys", "sync-firewall", "--key-prefix-set", prefix_set.arn)

    assert (code, again) == (0, 0)
    assert prefix_set.read().patterns == _admitted(prefix_set, value.strip())
    assert "admits 1 valid webhook key value(s): until now it admitted every well-formed key" in err
    assert "nothing to change" in err_again


def test_without_a_set_a_new_webhook_key_comes_with_a_note(
    dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, webhook_err = _run(capsys, "keys", "create", "prod-sns")
    _, _, read_err = _run(capsys, "keys", "create", "reader", "--scope", "read")

    assert code == 0
    assert "sync-firewall" in webhook_err
    assert "sync-firewall" not in read_err


def test_sync_firewall_without_a_set_is_a_usage_error(
    dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "keys", "sync-firewall")

    assert code == 2
    assert "--key-prefix-set" in err


def test_a_full_set_refuses_the_key_and_stores_nothing(
    key_store: DynamoKeyStore, prefix_set: WafRegexPatternSet, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(10):
        assert _run(capsys, "keys", "create", f"k{n}", "--key-prefix-set", prefix_set.arn)[0] == 0
    before = prefix_set.read().patterns

    code, out, err = _run(capsys, "keys", "create", "k10", "--key-prefix-set", prefix_set.arn)

    assert (code, out) == (1, "")
    assert "at most 10 webhook key values" in err
    assert key_store.named("k10") == []
    assert prefix_set.read().patterns == before


@pytest.mark.parametrize("arn", ["nope", "arn:aws:sns:us-east-1:123456789012:topic"])
def test_a_malformed_set_arn_is_a_usage_error(
    dynamodb_tables: dict[str, str], capsys: pytest.CaptureFixture[str], arn: str
) -> None:
    code, out, err = _run(capsys, "keys", "create", "prod-sns", "--key-prefix-set", arn)

    assert (code, out) == (2, "")
    assert "regex pattern set" in err


def test_a_missing_set_fails_before_anything_is_stored(
    key_store: DynamoKeyStore, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = (
        "arn:aws:wafv2:us-east-1:123456789012:regional/regexpatternset/gone/"
        "8a3e7c52-1b3c-4b6e-9d07-3c1c2b1a0f00"
    )

    code, out, err = _run(capsys, "keys", "create", "prod-sns", "--key-prefix-set", arn)

    assert (code, out) == (1, "")
    assert "WAFNonexistentItemException" in err
    assert key_store.all() == []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    action=st.sampled_from(["create", "rotate", "revoke", "sync-firewall"]),
    arn=st.one_of(
        st.text(max_size=80),
        st.from_regex(
            r"arn:aws:wafv2:[a-z0-9-]{0,12}:\d{12}:(regional|global)/regexpatternset/"
            r"[\w-]{1,20}/[a-f0-9-]{1,36}",
            fullmatch=True,
        ),
    ),
)
def test_any_key_prefix_set_argument_is_an_exit_code_and_one_line(
    key_store: DynamoKeyStore,
    capsys: pytest.CaptureFixture[str],
    action: str,
    arn: str,
) -> None:
    argv = ["keys", action, *(["prod-sns"] if action != "sync-firewall" else [])]

    try:
        code = main([*argv, f"--key-prefix-set={arn}"])
    except SystemExit as exited:  # argparse refuses it (e.g. an argument it cannot decode)
        code = int(exited.code or 0)
    out, err = capsys.readouterr()

    assert code in (1, 2), (code, err)
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 or code == 2
    assert out == ""
    assert key_store.all() == []
