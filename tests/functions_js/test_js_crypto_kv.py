"""JavaScript functions' `crypto` (a ChaCha20 keystream keyed from the host's os.urandom
before every invocation, never Math.random) and `env.KV.increment` (one SQL statement:
concurrent increments lose nothing), through the functions API on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re

from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.algorithms import ChaCha20

from tests.api.helpers import P
from tests.functions_js.test_functions_js import _deployed

NO_MATH_RANDOM = """
async function handler(request, env) {
  Math.random = () => 0;  // crypto must not draw from it
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const words = crypto.getRandomValues(new Uint32Array(4));
  return Response.json({ bytes: Array.from(bytes), words: Array.from(words),
                         uuid: crypto.randomUUID() });
}
"""

SEEDED = """
async function handler(request, env) {
  const { seed } = await request.json();
  __seed(seed);
  const a = crypto.getRandomValues(new Uint8Array(70));
  const b = crypto.getRandomValues(new Uint8Array(60));
  return Response.json({ stream: Array.from(a).concat(Array.from(b)) });
}
"""

BAD_CALLS = """
async function handler(request, env) {
  const errors = [];
  for (const make of [() => new Float64Array(2), () => new Uint8Array(65537), () => [1, 2]]) {
    try { crypto.getRandomValues(make()); errors.push(null); } catch (e) { errors.push(e.name); }
  }
  return Response.json({ errors });
}
"""

COUNTER = """
async function handler(request, env) {
  const { by, key, put } = await request.json();
  if (put !== undefined) await env.KV.put(key, put);
  try { return Response.json({ value: await env.KV.increment(key || "hits", by) }); }
  catch (e) { return Response.json({ error: e.message }, { status: 409 }); }
}
"""

UUID_V4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


async def _invoke(js, function_id: str, body: dict) -> dict:
    answer = await js.post(f"{P}/functions/{function_id}/invoke", json=body)
    return {"status": answer.status_code, **answer.json()}


async def test_crypto_does_not_use_math_random_and_differs_per_invocation(js):
    function_id = await _deployed(js, NO_MATH_RANDOM)
    first, second = [await _invoke(js, function_id, {}) for _ in range(2)]
    for answer in (first, second):
        assert answer["status"] == 200, answer
        assert any(answer["bytes"]) and any(answer["words"])
        assert UUID_V4.match(answer["uuid"]), answer["uuid"]
    # The same warm isolate, reseeded from os.urandom: nothing repeats.
    assert first["bytes"] != second["bytes"] and first["uuid"] != second["uuid"]


async def test_the_generator_is_chacha20_from_its_seed(js):
    key, nonce = bytes(range(32)), bytes.fromhex("000000090000004a00000000")
    function_id = await _deployed(js, SEEDED)
    answer = await _invoke(js, function_id, {"seed": (key + nonce).hex()})
    # RFC 8439's block counter starts at 0 here; `cryptography` takes it as the first
    # 4 bytes (little-endian) of its 16-byte nonce.
    encryptor = Cipher(ChaCha20(key, bytes(4) + nonce), mode=None).encryptor()
    assert bytes(answer["stream"]) == encryptor.update(bytes(130))


async def test_get_random_values_refuses_what_the_web_crypto_api_refuses(js):
    function_id = await _deployed(js, BAD_CALLS)
    answer = await _invoke(js, function_id, {})
    assert answer["errors"] == ["TypeError", "RangeError", "TypeError"]


async def test_kv_increment_is_atomic_and_refuses_a_non_integer(js):
    function_id = await _deployed(js, COUNTER)
    answers = await asyncio.gather(*(_invoke(js, function_id, {}) for _ in range(12)))
    assert sorted(a["value"] for a in answers) == list(range(1, 13))
    assert (await _invoke(js, function_id, {"by": -5}))["value"] == 7
    # A value that is no integer is left alone, and the handler is told.
    refused = await _invoke(js, function_id, {"key": "name", "put": "Ana", "by": 1})
    assert refused["status"] == 409 and "not an integer" in refused["error"]
    assert (await _invoke(js, function_id, {"key": "n", "put": "41"}))["value"] == 42
    bad = await _invoke(js, function_id, {"key": "hits", "by": 1.5})
    assert bad["status"] == 409 and "integer amount" in bad["error"]
