"""Messages sent one at a time at a steady rate, as a quiet web app sends them: ``python
bench/paced_sends.py --rate 5 --count 150``. Prints the ids (JSON) once all are enqueued.

It imports ``dispatcher`` from ``PYTHONPATH``, so ``make bench`` runs it against this tree and
against the tree of the commit before send jobs were shared (the (g) rows), each with the worker
of its own tree; the records of both carry ``created_at_ms`` and ``updated_at_ms``.
"""

from __future__ import annotations

import argparse
import json
import time

from dispatcher.config.settings import load_settings
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.logs import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=5.0, help="messages a second (0: no pause)")
    parser.add_argument("--count", type=int, default=150)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--log-level", default="INFO", help="this process's (a web app's) logs")
    args = parser.parse_args()
    configure_logging("json", args.log_level)  # the lines go to stderr
    dispatcher = Dispatcher(load_settings(), redis_url=args.redis_url)
    ids = []
    began = time.monotonic()
    for i in range(args.count):
        pause = began + i / args.rate - time.monotonic() if args.rate else 0
        if pause > 0:
            time.sleep(pause)
        ids.append(dispatcher.send_sms(f"+1415555{i % 10000:04d}", "bench"))
    dispatcher.close()
    print(json.dumps(ids))


if __name__ == "__main__":
    main()
