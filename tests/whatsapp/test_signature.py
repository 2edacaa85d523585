"""X-Hub-Signature-256 over raw bytes, and the GET subscription handshake."""

from __future__ import annotations

import json

from convoflow.channels.whatsapp.signature import (
    SignatureCheck,
    check_signature,
    check_signature_of_each,
    sign,
    verify_subscription,
)
from convoflow.channels.whatsapp.webhook_bodies import signed
from tests.whatsapp.conftest import load_fixture_file

BODY = json.dumps(load_fixture_file("message.json")["reaction"]).encode()


def test_known_vector() -> None:
    # whatsapp-cloud-api.md §2.2: HMAC-SHA256(key="secret", msg="test").
    expected = "0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
    assert sign("secret", b"test") == f"sha256={expected}"


def test_valid() -> None:
    assert check_signature(BODY, sign("s3cret", BODY), "s3cret") is SignatureCheck.VALID
    # Hex case and surrounding space do not matter; the prefix's case neither.
    header = "SHA256=" + sign("s3cret", BODY).removeprefix("sha256=").upper() + " "
    assert check_signature(BODY, header, "s3cret") is SignatureCheck.VALID


def test_missing_is_distinct_from_mismatch() -> None:
    assert check_signature(BODY, None, "s3cret") is SignatureCheck.MISSING
    assert check_signature(BODY, "  ", "s3cret") is SignatureCheck.MISSING


def test_mismatch() -> None:
    assert check_signature(BODY, "sha256=" + "0" * 64, "s3cret") is SignatureCheck.MISMATCH
    assert check_signature(BODY, sign("s3cret", BODY)[7:], "s3cret") is SignatureCheck.MISMATCH
    tampered = BODY.replace(b"972987654321", b"972987654322")
    assert check_signature(tampered, sign("s3cret", BODY), "s3cret") is SignatureCheck.MISMATCH


def test_wrong_or_empty_secret() -> None:
    header = sign("s3cret", BODY)
    assert check_signature(BODY, header, "other") is SignatureCheck.MISMATCH
    assert check_signature(BODY, header, "") is SignatureCheck.MISMATCH
    assert check_signature(BODY, header, []) is SignatureCheck.MISMATCH


def test_any_of_several_secrets() -> None:
    header = sign("second", BODY)
    assert check_signature(BODY, header, ["first", "second"]) is SignatureCheck.VALID


def test_the_mac_is_over_the_exact_bytes() -> None:
    payload = {"text": "olá 😮"}
    raw, headers = signed(payload, "s3cret")
    assert b"\\u00e1" in raw  # escaped unicode, as Meta sends it
    assert check_signature(raw, headers["X-Hub-Signature-256"], "s3cret") is SignatureCheck.VALID
    reencoded = json.dumps(payload, ensure_ascii=False).encode()
    mismatch = check_signature(reencoded, headers["X-Hub-Signature-256"], "s3cret")
    assert mismatch is SignatureCheck.MISMATCH


def test_challenge() -> None:
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "tok"}
    assert verify_subscription(params, "tok") == "1158201444"
    assert verify_subscription(params, ["x", "tok"]) == "1158201444"
    assert verify_subscription(params, "other") is None
    assert verify_subscription(params, None) is None  # no token configured: refuse
    assert verify_subscription(params, "") is None
    assert verify_subscription({**params, "hub.mode": "unsubscribe"}, "tok") is None
    assert verify_subscription({**params, "hub.verify_token": ""}, "") is None
    assert verify_subscription({"hub.mode": "subscribe", "hub.verify_token": "tok"}, "tok") is None


def test_a_body_naming_several_numbers_must_verify_with_each_secret() -> None:
    header = sign("first", BODY)
    assert check_signature_of_each(BODY, header, ["first"]) is SignatureCheck.VALID
    assert check_signature_of_each(BODY, header, ["first", "first"]) is SignatureCheck.VALID
    assert check_signature_of_each(BODY, header, ["first", "second"]) is SignatureCheck.MISMATCH
    assert check_signature_of_each(BODY, header, ["second", "first"]) is SignatureCheck.MISMATCH
    assert check_signature_of_each(BODY, header, ["first", ""]) is SignatureCheck.MISMATCH
    assert check_signature_of_each(BODY, header, []) is SignatureCheck.MISMATCH
    assert check_signature_of_each(BODY, None, ["first"]) is SignatureCheck.MISSING
