"""The ``b24crm`` command: call any method, export a list as JSON lines, list the spec, run the emulator.

Errors print one line — what failed and why, never a secret — and exit non-zero. The global options
(``--webhook``, ``--limiter-store``, ``--debug``) go before or after the subcommand, as a user types them.
A reader that closes the output early (``b24crm export ... | head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any
from urllib.parse import quote

ENV_WEBHOOK = "B24_WEBHOOK_URL"
ENV_LIMITER_STORE = "B24_LIMITER_STORE"

#: Exit codes: 0 ok, 1 the portal or transport failed, 2 bad usage or bad parameters, 130 interrupted,
#: 141 the reader closed the output early (``| head``): 128 + SIGPIPE, what a shell reports for ``yes | head``.
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_OUTPUT_CLOSED = 141


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options every command takes, before or after the subcommand. The subcommands' copy has
    ``suppress=True`` (no defaults), so an option given after the subcommand overrides one given before it
    and an option left out there overrides nothing."""
    unset = argparse.SUPPRESS if suppress else None
    parser.add_argument("--webhook", default=unset, help=f"incoming webhook URL (default: ${ENV_WEBHOOK})")
    parser.add_argument(
        "--limiter-store",
        metavar="URL",
        default=unset,
        help=f"share the portal's rate limits with other workers, e.g. redis://127.0.0.1:6379/0 (default: "
        f"${ENV_LIMITER_STORE}, else this process only; needs b24crm[redis])",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="log every request to stderr (secrets redacted)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="b24crm", description="Bitrix24 CRM REST from the command line.")
    _add_global_options(parser, suppress=False)
    global_options = argparse.ArgumentParser(add_help=False)
    _add_global_options(global_options, suppress=True)
    sub = parser.add_subparsers(dest="command", required=True)

    call = sub.add_parser("call", parents=[global_options], help="call a method and print its result as JSON")
    call.add_argument("method")
    call.add_argument("params", nargs="*", metavar="KEY=VALUE", help="PHP-style keys: fields[NAME]=x filter[>ID]=5")
    call.add_argument("--json", dest="json_params", help="parameters as one JSON object")

    export = sub.add_parser(
        "export", parents=[global_options], help="stream every record of a list method as JSON lines"
    )
    export.add_argument("method")
    export.add_argument("params", nargs="*", metavar="KEY=VALUE")
    export.add_argument("--json", dest="json_params", help="parameters as one JSON object")
    export.add_argument("--after-id", type=int, default=None, help="resume after this record ID")
    export.add_argument("--limit", type=int, default=None, help="stop after this many records")

    sub.add_parser("methods", parents=[global_options], help="list the methods the spec describes")
    sub.add_parser("emulator", help="run the local portal emulator (see `b24crm emulator --help`)", add_help=False)
    return parser


def _parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """The parsed command line, and the emulator's own arguments (``[]`` for every other command).

    argparse fills a subcommand's ``KEY=VALUE`` list only up to the first option after the method
    (``call crm.status.list --webhook URL filter[ENTITY_ID]=SOURCE``); the words after it come back unparsed,
    in order, and belong at the end of that list. Anything else left over is a usage error.
    """
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "emulator":
        return args, extra
    if extra and (not hasattr(args, "params") or any(word.startswith("-") for word in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.params = [*args.params, *extra]
    return args, []


class _OutputClosed(Exception):
    """The reader of the output went away (``| head``, a closed pipe): the command stops quietly."""


class _Output:
    """The output stream, with a closed pipe raised as :class:`_OutputClosed`.

    Only writes to the output are wrapped, so a broken pipe anywhere else (a socket) is never mistaken for it.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            raise _OutputClosed from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise _OutputClosed from None


def _discard_closed(stream: IO[str]) -> None:
    """Point a closed stream's file descriptor at /dev/null: Python flushes ``sys.stdout`` once more at exit,
    and what is still buffered would otherwise end in an "Exception ignored ... BrokenPipeError" message."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a StringIO or another stream without a descriptor
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _registry() -> Any:
    from b24crm._registry import REGISTRY

    return REGISTRY


def _params(method: str, pairs: Sequence[str], json_text: str | None) -> dict[str, Any]:
    from b24crm.runtime.phpquery import decode_query
    from b24crm.runtime.validation import coerce_strings

    params: dict[str, Any] = {}
    if json_text:
        loaded = json.loads(json_text)
        if not isinstance(loaded, dict):
            raise ValueError("--json must be a JSON object")
        params.update(loaded)
    if pairs:
        encoded = []
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise ValueError(f"expected KEY=VALUE, got {pair!r}")
            encoded.append(f"{quote(key, safe='[]')}={quote(value, safe='')}")
        params.update(decode_query("&".join(encoded)))
    spec = _registry().find(method)
    return dict(coerce_strings(spec.request_schema if spec else None, params))


def _client(args: argparse.Namespace) -> Any:
    from b24crm import Client

    url = args.webhook or os.environ.get(ENV_WEBHOOK)
    if not url:
        raise ValueError(f"no webhook: pass --webhook URL or set {ENV_WEBHOOK}")
    store = args.limiter_store or os.environ.get(ENV_LIMITER_STORE) or None
    try:
        return Client.from_webhook(url, limiter_store=store)
    except ImportError as exc:  # redis:// without the extra installed
        raise ValueError(str(exc)) from None


def _print_json(value: Any, out: _Output) -> None:
    from b24crm.runtime.converter import to_wire

    json.dump(to_wire(value), out, ensure_ascii=False, indent=2, default=str)
    out.write("\n")
    out.flush()


class _Progress:
    """A one-line counter on stderr, only when stderr is a terminal."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, count: int) -> None:
        if self.enabled:
            self.stream.write(f"\rexported {count:,} records")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")


def _export(args: argparse.Namespace, out: _Output, err: IO[str]) -> int:
    from b24crm.runtime.converter import to_wire

    spec = _registry().find(args.method)
    if spec is None or spec.pagination is None:
        paged = sorted(name for name, m in _registry().methods.items() if m.pagination is not None)
        err.write(f"b24crm: {args.method} is not a paginated method in the spec (paginated: {', '.join(paged)})\n")
        return EXIT_USAGE
    params = _params(spec.name, args.params, args.json_params)
    params.pop(spec.pagination.start_param, None)
    client = _client(args)
    progress = _Progress(err)
    count = 0
    try:
        records: Iterator[Any] = client.iter_all(
            spec.name, params, limit=args.limit, progress=progress, after_id=args.after_id
        )
        for record in records:
            out.write(json.dumps(to_wire(record), ensure_ascii=False, default=str))
            out.write("\n")
            count += 1
        out.flush()
    finally:
        progress.close()
        client.close()
    err.write(f"b24crm: exported {count} record(s) from {spec.name}\n")
    return 0


def _methods(out: _Output) -> int:
    for name, m in sorted(_registry().methods.items()):
        flags = [f for f, on in (("paginated", m.pagination), ("deprecated", m.deprecated)) if on]
        flags.append("retry-safe" if m.idempotent else "write")
        out.write(f"{name:40} {', '.join(flags):28} {m.summary}\n")
    out.flush()
    return 0


def main(argv: Sequence[str] | None = None, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    stream = out or sys.stdout
    err = err or sys.stderr
    args, emulator_argv = _parse(argv)
    if args.command == "emulator":  # it parses its own options: `b24crm emulator --help` is its help
        from b24crm.testing.cli import main as emulator_main

        return emulator_main(emulator_argv)
    output = _Output(stream)
    if args.debug:
        handler = logging.StreamHandler(err)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logging.getLogger("b24crm").addHandler(handler)
        logging.getLogger("b24crm").setLevel(logging.DEBUG)
    from b24crm.runtime.errors import B24Error

    try:
        if args.command == "methods":
            return _methods(output)
        if args.command == "export":
            return _export(args, output, err)
        client = _client(args)
        try:
            result = client.call(args.method, _params(args.method, args.params, args.json_params))
        finally:
            client.close()
        _print_json(result, output)
        return 0
    except _OutputClosed:
        _discard_closed(stream)
        return EXIT_OUTPUT_CLOSED
    except KeyboardInterrupt:
        err.write("b24crm: interrupted\n")
        return 130
    except B24Error as exc:
        lines = str(exc).splitlines() or [type(exc).__name__]
        detail = "; ".join(line.strip(" -") for line in lines[1:])
        err.write(f"b24crm: {type(exc).__name__}: {lines[0]}{' ' + detail if detail else ''}\n")
        return EXIT_USAGE if isinstance(exc, ValueError) else EXIT_FAILED
    except ValueError as exc:  # bad KEY=VALUE, --json or missing webhook
        err.write(f"b24crm: {' '.join(str(exc).split())}\n")
        return EXIT_USAGE
