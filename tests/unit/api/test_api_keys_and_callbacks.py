"""API keys (hashing, constant-time identification, the CLI that makes them) and the status
callback's body and signature. Pure."""

from __future__ import annotations

import json
import tomllib

from click.testing import CliRunner

from dispatcher.api.api_keys import KeyRing, key_digest
from dispatcher.cli import main
from dispatcher.config.settings import ApiKeySettings, ApiSettings
from dispatcher.core.states import MessageState
from dispatcher.core.status_callback import callback_body, sign, verify_signature
from tests.message_records import a_record


def test_keyring_identifies_named_and_environment_keys() -> None:
    ring = KeyRing(
        ApiSettings(
            keys={"shop": ApiKeySettings(sha256=key_digest("k-shop"), rate_limit=5)},
            api_keys=" k-env-1 , k-env-2 ",
        )
    )
    assert len(ring) == 3
    shop = ring.identify("k-shop")
    assert shop is not None
    assert (shop.name, shop.scopes, shop.rate_limit) == ("shop", ("send",), 5)
    assert not shop.may("operate")
    env = ring.identify("k-env-2")
    assert env is not None
    assert (env.name, env.may("operate")) == ("env-2", True)
    assert ring.identify("k-shop ") is None
    assert ring.identify("") is None


def test_api_key_new_prints_a_key_its_config_accepts() -> None:
    result = CliRunner().invoke(
        main, ["api-key", "new", "--name", "web-shop", "--scope", "send", "--scope", "operate"]
    )
    assert result.exit_code == 0, result.output
    first, _, config = result.output.partition("add to your config file:")
    key = first.split(": ")[-1].strip()
    assert key.startswith("smsd_")
    table = tomllib.loads(config)["api"]["keys"]["web-shop"]
    assert table["scopes"] == ["send", "operate"]
    assert key not in config
    ring = KeyRing(ApiSettings(keys={"web-shop": ApiKeySettings(**table)}))
    client = ring.identify(key)
    assert client is not None
    assert client.may("operate")
    bad = CliRunner().invoke(main, ["api-key", "new", "--name", "a b"])
    assert bad.exit_code != 0


def test_callback_body_masks_the_number_and_is_signed() -> None:
    record = a_record(
        "01ABC",
        body="secret code 123456",
        priority="high",
        state=MessageState.ACCEPTED,
        created_at_ms=1,
        updated_at_ms=2,
        valid_until_ms=3,
        provider="sinch",
        provider_message_id="B1",
        metadata={"order": 7},
    )
    body = callback_body(record, "delivered", event_id="01ABC|delivered", now_ms=99)
    document = json.loads(body)
    assert document["to"] == "+*******2671"
    assert document["state"] == "delivered"
    assert document["metadata"] == {"order": 7}
    assert b"123456" not in body
    signature = sign("s3cret", body)
    assert signature.startswith("sha256=")
    assert verify_signature("s3cret", body, signature)
    assert not verify_signature("s3cret", body + b" ", signature)
    assert not verify_signature("other", body, signature)
    assert not verify_signature("s3cret", body, None)
