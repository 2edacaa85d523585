"""Time-ordered UUIDs (version 7), so primary keys sort by creation time."""

from __future__ import annotations

import random
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0
# Ids must be unique and time-ordered, not secret (API keys use `secrets`), so a fast
# PRNG seeded from the OS is enough for the 62 random bits.
_random = random.SystemRandom()
_fast_random = random.Random(_random.getrandbits(64))


def _uuid7_int() -> int:
    """RFC 9562 UUIDv7 as an int, with a 12-bit monotonic counter within a millisecond."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = 0
        counter = _counter
        rand = _fast_random.getrandbits(62)
    return ((ms & ((1 << 48) - 1)) << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand


def uuid7() -> uuid.UUID:
    return uuid.UUID(int=_uuid7_int())


def new_id() -> str:
    """A UUIDv7 as text, formatted directly (this runs for every event row)."""
    h = f"{_uuid7_int():032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
