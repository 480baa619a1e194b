"""``python -m b24crm emulator ...``: run the emulator in the foreground and print how to reach it."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from b24crm.testing.emulator import Emulator
from b24crm.testing.limiter import parse_plan
from b24crm.testing.server import CONTROL_TOKEN_HEADER, DEFAULT_MAX_BODY_BYTES
from b24crm.testing.state import StateFileInUseError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``emulator`` command's arguments."""
    parser = argparse.ArgumentParser(prog="python -m b24crm emulator", description="A local Bitrix24 CRM portal.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", choices=("demo", "empty"), default="demo")
    parser.add_argument("--stage-history", type=int, default=0, metavar="N", help="synthetic deal stage-history rows")
    parser.add_argument("--deals", type=int, default=0, metavar="N", help="synthetic deals 1..N (large data)")
    parser.add_argument("--plan", default="unlimited", help="standard | enterprise | unlimited | BURST/RATE")
    parser.add_argument("--state", default=None, metavar="FILE", help="keep state in this SQLite file")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a certificate made at start")
    parser.add_argument("--token-ttl", type=int, default=3600, metavar="SECONDS")
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help="answer 413 to a request body above N bytes, unread (default: PHP's post_max_size default, 8 MiB)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted (Ctrl+C or SIGTERM); 2 on bad arguments, 1 when the state file is in use."""
    args = build_parser().parse_args(argv)
    if args.stage_history < 0 or args.deals < 0 or args.token_ttl <= 0 or args.max_body_bytes < 0:
        print("error: --stage-history, --deals and --max-body-bytes must be >= 0 and --token-ttl > 0", file=sys.stderr)
        return 2
    try:
        parse_plan(args.plan)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        emulator = Emulator(
            seed=args.seed,
            stage_history=args.stage_history,
            deals=args.deals,
            plan=args.plan,
            state=args.state,
            tls=args.tls,
            token_ttl=args.token_ttl,
            host=args.host,
            port=args.port,
            max_body_bytes=args.max_body_bytes,
        )
    except StateFileInUseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    with emulator:
        oauth = emulator.oauth
        lines = [
            f"b24crm emulator serving on {emulator.base_url} (seed={args.seed}, plan={args.plan})",
            f"webhook URL:        {emulator.webhook_url}",
            f"control token:      {emulator.control_token} (send it as {CONTROL_TOKEN_HEADER} to /_emulator/*)",
            f"OAuth client_id:    {oauth.client_id}",
            f"OAuth client_secret:{' '}{oauth.client_secret}",
            f"OAuth access_token: {oauth.access_token}",
            f"OAuth refresh_token:{' '}{oauth.refresh_token}",
            f"OAuth token URL:    {oauth.token_url}",
        ]
        if emulator.ca_file:
            lines.append(f"CA file:            {emulator.ca_file}")
        if args.state:
            lines.append(f"state file:         {args.state}")
        try:
            print("\n".join(lines), flush=True)
        except BrokenPipeError:  # `| head -3`: the reader has what it wanted; the emulator keeps serving
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
