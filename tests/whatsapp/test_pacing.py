"""Token bucket per number and pacing per conversation, on an injected clock."""

from __future__ import annotations

from convoflow.channels.whatsapp.pacing import RateLimiter


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_steady_rate() -> None:
    clock = Ticks()
    limiter = RateLimiter(10, burst=3, clock=clock)
    waits = [limiter.reserve("n1") for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert [round(w, 6) for w in waits[3:]] == [0.1, 0.2]
    assert limiter.reserve("n2") == 0.0  # keys are independent


def test_idle_time_refills() -> None:
    clock = Ticks()
    limiter = RateLimiter(1, burst=1, clock=clock)
    assert limiter.reserve("c") == 0.0
    assert limiter.reserve("c") == 1.0
    clock.now += 10
    assert limiter.reserve("c") == 0.0


def test_zero_rate_means_no_pacing() -> None:
    limiter = RateLimiter(0)
    assert [limiter.reserve("c") for _ in range(3)] == [0.0, 0.0, 0.0]
