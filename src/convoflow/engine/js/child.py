"""The worker process that holds V8 isolates (mini-racer) for JavaScript functions.

Why a process and not a thread: V8 can stop a running script, but not a microtask (code
after the handler's first `await`) once the script that queued it returned, and a stuck
isolate cannot even be closed. A process can always be killed, and the server's event loop
never waits on V8. Protocol: one JSON object per line on stdin/stdout (see runner.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from importlib import resources
from typing import Any

from py_mini_racer import (
    CancelableJSFunction,
    JSFunction,
    JSMappedObject,
    JSOOMException,
    JSPromise,
    MiniRacer,
)

PRELUDE = resources.files("convoflow.engine.js").joinpath("prelude.js").read_text("utf-8")
MAX_CONTEXTS = 32  # warm isolates kept per worker (one per function version)
_LOCATION = re.compile(r"^<anonymous>:(\d+): (.*)$")


def describe_js_error(message: str) -> tuple[str, int | None, int | None]:
    """V8's message `<anonymous>:LINE: SyntaxError: ...`, the source line, a caret line
    -> (first line without the prefix, line, column)."""
    lines = message.splitlines()
    match = _LOCATION.match(lines[0]) if lines else None
    if match is None:
        return (lines[0] if lines else message), None, None
    column = None
    if len(lines) > 2 and "^" in lines[2]:
        column = lines[2].index("^") + 1
    return match.group(2), int(match.group(1)), column


@dataclass
class _Isolate:
    """One function version's V8 context: its prelude and code evaluated, `__invoke` kept
    (looking it up per call would cost a round trip to V8's thread)."""

    racer: MiniRacer
    stack: contextlib.AsyncExitStack
    invoke: CancelableJSFunction


class Isolates:
    def __init__(self, out: Any) -> None:
        self._out = out
        self._contexts: OrderedDict[str, _Isolate] = OrderedDict()
        self._calls: dict[int, asyncio.Future[str]] = {}
        self._next_call = 0

    def send(self, message: dict[str, Any]) -> None:
        self._out.write(json.dumps(message) + "\n")
        self._out.flush()

    def reply(self, call_id: int, value: str) -> None:
        future = self._calls.pop(call_id, None)
        if future is not None and not future.done():
            future.set_result(value)

    async def _host(self, op: Any, args: Any) -> str:
        # Runs on mini-racer's loop thread: hand the call to ours and wait for the parent.
        loop = self._loop
        call_id = self._next_call = self._next_call + 1
        future: asyncio.Future[str] = loop.create_future()

        def register() -> None:
            self._calls[call_id] = future
            self.send({"op": "host", "call_id": call_id, "name": str(op), "args": str(args)})

        loop.call_soon_threadsafe(register)
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_wait(future), loop))

    async def context(
        self, key: str, code: str, max_memory: int, run_seconds: float
    ) -> tuple[_Isolate, bool]:
        if key in self._contexts:
            self._contexts.move_to_end(key)
            return self._contexts[key], False
        racer = MiniRacer()
        racer.set_hard_memory_limit(max_memory)
        stack = contextlib.AsyncExitStack()
        host = await stack.enter_async_context(racer.wrap_py_function(self._host))
        global_this = racer.eval("globalThis")
        assert isinstance(global_this, JSMappedObject)
        global_this["__host"] = host
        racer.eval(PRELUDE)
        racer.eval(f"__seed({_seed()!r})")  # the code's top level may draw already
        define = "\n;globalThis.handler = typeof handler === 'function' ? handler : null;"
        await asyncio.wait_for(racer.eval_cancelable(code + define), run_seconds)
        invoke = racer.eval("__invoke")
        assert isinstance(invoke, JSFunction)
        isolate = self._contexts[key] = _Isolate(racer, stack, invoke.cancelable())
        while len(self._contexts) > MAX_CONTEXTS:
            _, old = self._contexts.popitem(last=False)
            await old.stack.aclose()
            old.racer.close()
        return isolate, True

    def _over_memory(self, key: str) -> bool:
        entry = self._contexts.get(key)
        return entry is not None and entry.racer.was_hard_memory_limit_reached()

    async def run(self, message: dict[str, Any]) -> dict[str, Any]:
        self._loop = asyncio.get_running_loop()
        timeout = float(message["timeout"])
        try:
            isolate, cold = await self.context(
                message["key"], message["code"], message["max_memory"], timeout
            )
            request, secrets = json.dumps(message["request"]), json.dumps(message["secrets"])
            promise = await asyncio.wait_for(isolate.invoke(request, secrets, _seed()), timeout)
            assert isinstance(promise, JSPromise)  # __invoke is async
            result = await asyncio.wait_for(promise, timeout)
            return {"op": "done", "result": json.loads(str(result)), "cold": cold}
        except TimeoutError:
            # The isolate may still be spinning: this process ends after answering. (Not a
            # word to the isolate here: any call into it waits for the spinning script.)
            error = f"timed out after {timeout:g} s of run time"
            return {"op": "done", "error": error, "fatal": True}
        except JSOOMException:
            return {"op": "done", "error": _memory_error(message), "fatal": True}
        except Exception as exc:  # a JS exception: the function's own failure
            if self._over_memory(message["key"]):
                return {"op": "done", "error": _memory_error(message), "fatal": True}
            text, line, column = describe_js_error(str(exc))
            where = f" (line {line}, column {column})" if line else ""
            return {"op": "done", "error": f"{text}{where}", "line": line, "column": column}


def _seed() -> str:
    """Key (32 bytes) and nonce (12) of the isolate's ChaCha20 generator (prelude.js)."""
    return os.urandom(44).hex()


def _memory_error(message: dict[str, Any]) -> str:
    return f"memory limit of {message['max_memory'] // (1024 * 1024)} MiB exceeded"


async def _wait(future: asyncio.Future[str]) -> str:
    return await future


async def check(code: str, run_seconds: float, max_memory: int) -> dict[str, Any]:
    """Compile `code` in a fresh isolate (its top level runs, within the invocation
    limits); it must define `handler`."""
    racer = MiniRacer()
    racer.set_hard_memory_limit(max_memory)
    try:
        kind = await asyncio.wait_for(
            racer.eval_cancelable(code + "\n;typeof handler"), run_seconds
        )
    except TimeoutError:
        return {"op": "checked", "error": f"the top-level code ran longer than {run_seconds:g} s"}
    except Exception as exc:
        if racer.was_hard_memory_limit_reached():
            return {"op": "checked", "error": "the top-level code exceeded the memory limit"}
        text, line, column = describe_js_error(str(exc))
        return {"op": "checked", "error": text, "line": line, "column": column}
    finally:
        racer.close()
    if kind != "function":
        error = "the code defines no `async function handler(request, env)`"
        return {"op": "checked", "error": error}
    return {"op": "checked", "error": None}


async def serve() -> None:
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, "")

    threading.Thread(target=read, daemon=True).start()
    isolates = Isolates(sys.stdout)
    tasks: set[asyncio.Task[None]] = set()

    async def run(message: dict[str, Any]) -> None:
        answer = await isolates.run(message)
        isolates.send(answer)
        if answer.get("fatal"):
            os._exit(0)

    while line := await lines.get():
        message = json.loads(line)
        if message["op"] == "reply":
            isolates.reply(int(message["call_id"]), str(message["value"]))
        elif message["op"] == "check":
            limits = float(message["timeout"]), int(message["max_memory"])
            isolates.send(await check(str(message["code"]), *limits))
        elif message["op"] == "run":
            task = asyncio.create_task(run(message))
            tasks.add(task)
            task.add_done_callback(tasks.discard)


if __name__ == "__main__":
    asyncio.run(serve())
    # mini-racer's threads keep a normal interpreter exit waiting forever.
    os._exit(0)
