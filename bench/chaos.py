"""Kill -9 chaos run (not a test): SIGKILL the WhatsApp server many times while
conversations run, then count what users received at the fake Graph API: lost,
duplicated, out-of-order bot messages and double-processed inbound wamids
(harness: tests/durability/whatsapp_chaos.py; the small run is in `make test`).

    python bench/chaos.py --backend sqlite --conversations 1000 --kills 200
    python bench/chaos.py --backend postgresql --conversations 1000 --kills 200
    python bench/chaos.py --backend sqlite --conversations 1000 --kills 200 --statuses off

With statuses on (the fake emits Meta's `sent` status echoing the outbox key) every send
whose answer a kill lost is settled by its status, 0 duplicates, as long as the statuses
reach the server within the hold once one is up (each start-up holds the uncertain sends
for the whole hold; reported: status_lag_since_start p50, p99, max, and status_lag from
the fake's first try). With statuses off
a lost answer can only be resent after the hold, so duplicates <= attempts in flight at
the kills (both reported).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.durability.whatsapp_chaos import Pace, run_chaos  # noqa: E402

if "CONVOFLOW_SECRET_KEY" not in os.environ:  # the server processes read it too
    from cryptography.fernet import Fernet

    os.environ["CONVOFLOW_SECRET_KEY"] = Fernet.generate_key().decode()

from common import create_pg_database, drop_pg_database  # noqa: E402
from convoflow.store.migrate import upgrade  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--statuses", choices=("on", "off"), default="on")
    parser.add_argument(
        "--hold", type=float, default=30.0, help="send_reconcile_seconds (the default's)"
    )
    parser.add_argument("--deadline", type=float, default=1800.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        name = f"cf_chaos_{uuid.uuid4().hex[:8]}"
        if args.backend == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp}/chaos.db"
        else:
            url = create_pg_database(name)
        try:
            upgrade(url)
            report = asyncio.run(
                run_chaos(
                    url, conversations=args.conversations, kills=args.kills,
                    statuses=args.statuses == "on", hold=args.hold,
                    pace=Pace(deadline=args.deadline),
                )
            )  # fmt: skip
        finally:
            if args.backend == "postgresql":
                drop_pg_database(name)
    result = {"command": "python bench/chaos.py " + " ".join(sys.argv[1:]), **asdict(report)}
    result["problems"] = report.problems[:20]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
