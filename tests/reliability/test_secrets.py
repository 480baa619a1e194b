"""Canary secrets never leak: not into log records (any logger, DEBUG), reprs, str() of errors, CLI output,
nor the emulator's logs or output.

The emulator is started with canary credentials (``Emulator(credentials=...)``); the client, the CLI and the
emulator then run through successes and every kind of failure while everything is captured.
"""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from b24crm import cli
from b24crm.runtime.errors import B24Error
from b24crm.testing import Emulator

from .conftest import client_options

WEBHOOK_CODE = "canaryHOOKc0de7f3a9c"
CLIENT_SECRET = "canarySECRETq8w7e6r5"
ACCESS_TOKEN = "canaryACCESSt0ken5r4"
REFRESH_TOKEN = "canaryREFRESHt0ken2i"
CANARIES = (WEBHOOK_CODE, CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN)
FIELDS = {"ENTITY_ID": "SOURCE", "STATUS_ID": "CANARY", "NAME": "canary test"}


class Evidence:
    """Every string produced during the run that a secret must not be in."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []
        self.secrets: list[str] = list(CANARIES)

    def add(self, where: str, value: object) -> None:
        self.texts.append((where, value if isinstance(value, str) else repr(value)))

    def error(self, where: str, exc: BaseException) -> None:
        self.add(f"{where}: str", str(exc))
        self.add(f"{where}: repr", repr(exc))
        self.add(f"{where}: args", repr(exc.args))
        for name in ("description", "excerpt", "message"):
            if isinstance(getattr(exc, name, None), str):
                self.add(f"{where}: .{name}", getattr(exc, name))
        if exc.__cause__ is not None or exc.__context__ is not None:
            self.add(f"{where}: chained", repr(exc.__cause__ or exc.__context__))

    def leaks(self) -> list[str]:
        return [
            f"{where}: {secret[:6]}… in {text[:200]!r}"
            for where, text in self.texts
            for secret in self.secrets
            if secret in text
        ]


@pytest.fixture
def canary_emu() -> Iterator[Emulator]:
    credentials = {
        "webhook_code": WEBHOOK_CODE,
        "client_secret": CLIENT_SECRET,
        "access_token": ACCESS_TOKEN,
        "refresh_token": REFRESH_TOKEN,
    }
    with Emulator(seed="demo", credentials=credentials) as emulator:
        # The canaries are really in play: otherwise this test could not fail.
        assert WEBHOOK_CODE in emulator.webhook_url
        assert emulator.oauth.client_secret == CLIENT_SECRET and emulator.oauth.access_token == ACCESS_TOKEN
        yield emulator


def _expect_error(evidence: Evidence, where: str, fn: Any) -> B24Error:
    try:
        fn()
    except B24Error as exc:
        evidence.error(where, exc)
        return exc
    raise AssertionError(f"{where}: expected a B24Error")


def test_canaries_never_leak(
    canary_emu: Emulator, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    emu = canary_emu
    ev = Evidence()
    caplog.set_level(logging.DEBUG)  # the root logger: b24crm, urllib3 and anything the emulator might log
    dead_port = _free_port()

    # --- webhook client: success and failures -------------------------------------------------------------
    client = emu.client(**client_options(timeout=(2.0, 0.5)))
    ev.add("client repr", repr(client))
    ev.add("client str", str(client))
    ev.add("auth repr", repr(client._auth))
    ev.add("list", client.crm.status.list(filter={"ENTITY_ID": "SOURCE"}))
    new_id = client.crm.status.add(fields=FIELDS)
    ev.add("get", client.crm.status.get(id=new_id))
    for kind in ("internal_error", "reset_after", "html", "truncated", "query_limit", "delay"):
        emu.faults.add(method="crm.status.add", kind=kind, times=1, seconds=1.0)
        fields = {**FIELDS, "STATUS_ID": f"CANARY_{kind.upper()}"}
        if kind == "query_limit":
            ev.add("retried add", client.crm.status.add(fields=fields))
        else:
            _expect_error(ev, f"webhook add under {kind}", lambda f=fields: client.crm.status.add(fields=f))
    emu.faults.add(method="crm.status.list", kind="internal_error", times=None)
    _expect_error(ev, "list, 500 every time", lambda: client.crm.status.list())
    emu.faults.clear()
    _expect_error(ev, "validation", lambda: client.crm.status.add(fields={"ENTITY_ID": 5}))
    _expect_error(ev, "not found", lambda: client.crm.status.get(id=999_999))
    _expect_error(ev, "unknown method", lambda: client.call("crm.nothing.here", {"x": WEBHOOK_CODE}))
    batch = client.batch()
    handle = batch.crm.status.get(id=999_999)
    batch.execute()
    ev.add("batch handle", repr(handle))
    if handle.error is not None:
        ev.error("batch command error", handle.error)
    client.close()

    wrong = emu.webhook_url.replace(WEBHOOK_CODE, WEBHOOK_CODE[::-1])
    ev.secrets.append(WEBHOOK_CODE[::-1])
    bad = type(client).from_webhook(wrong, **client_options())
    ev.add("wrong-code client repr", repr(bad))
    _expect_error(ev, "wrong webhook code", lambda: bad.crm.status.list())
    bad.close()
    dead = type(client).from_webhook(f"http://127.0.0.1:{dead_port}/rest/1/{WEBHOOK_CODE}/", **client_options())
    _expect_error(ev, "connection refused", lambda: dead.crm.status.list())
    dead.close()
    try:
        type(client).from_webhook(f"http://portal.example.com/rest/1/{WEBHOOK_CODE}/")
    except ValueError as exc:
        ev.error("insecure webhook refused", exc)
    try:
        type(client).from_webhook(f"https://portal.example.com/rest/{WEBHOOK_CODE}/")
    except ValueError as exc:
        ev.error("malformed webhook URL", exc)

    # --- OAuth client: refresh, expiry, failures -----------------------------------------------------------
    seen_tokens: list[Any] = []
    oauth = emu.client("oauth", **client_options(timeout=(2.0, 0.5)), on_tokens=seen_tokens.append)
    ev.add("oauth client repr", repr(oauth))
    ev.add("oauth auth repr", repr(oauth._auth))
    ev.add("oauth list", oauth.crm.status.list())
    emu.faults.add(method="crm.status.list", kind="expired_token", times=1)
    ev.add("oauth after refresh", oauth.crm.status.list())
    emu.expire_tokens()
    ev.add("oauth after expiry", oauth.crm.status.get(id=new_id))
    assert len(seen_tokens) == 2, "both refreshes must have gone through the emulator's token endpoint"
    for tokens in seen_tokens:
        ev.secrets += [tokens.access_token, tokens.refresh_token]
        ev.add("tokens repr", repr(tokens))
        ev.add("tokens str", str(tokens))
    emu.faults.add(method="crm.status.add", kind="reset_after", times=1)
    _expect_error(ev, "oauth add reset", lambda: oauth.crm.status.add(fields={**FIELDS, "STATUS_ID": "CANARY_OA"}))
    ev.add("oauth client repr after", repr(oauth))
    oauth.close()
    # A refresh token already used: the token endpoint refuses (invalid_grant).
    stale = type(client).from_oauth(
        emu.base_url,
        client_id=emu.oauth.client_id,
        client_secret=CLIENT_SECRET,
        access_token=ACCESS_TOKEN,
        refresh_token=REFRESH_TOKEN,
        token_url=emu.oauth.token_url,
        **client_options(),
    )
    emu.expire_tokens()
    _expect_error(ev, "invalid_grant", lambda: stale.crm.status.list())
    stale.close()
    # The token endpoint unreachable.
    unreachable = type(client).from_oauth(
        emu.base_url,
        client_id=emu.oauth.client_id,
        client_secret=CLIENT_SECRET,
        access_token=ACCESS_TOKEN,
        refresh_token=REFRESH_TOKEN,
        token_url=f"http://127.0.0.1:{dead_port}/oauth/token/?client_secret={CLIENT_SECRET}",
        expires_at=0.0,
        **client_options(),
    )
    _expect_error(ev, "token endpoint down", lambda: unreachable.crm.status.list())
    unreachable.close()

    # --- the CLI, with --debug, successes and failures -----------------------------------------------------
    url = emu.webhook_url
    runs = [
        ["--webhook", url, "--debug", "call", "crm.status.list", "filter[ENTITY_ID]=SOURCE"],
        [
            "--webhook",
            url,
            "--debug",
            "call",
            "crm.status.add",
            "fields[ENTITY_ID]=SOURCE",
            "fields[STATUS_ID]=CLI",
            "fields[NAME]=x",
        ],
        ["--webhook", url, "--debug", "call", "crm.status.get", "id=999999"],
        ["--webhook", url, "--debug", "call", "crm.nothing.here", f"code={WEBHOOK_CODE}"],
        ["--webhook", url, "--debug", "export", "crm.stagehistory.list", "entityTypeId=2", "--limit", "3"],
        ["--webhook", url, "--debug", "call", "crm.status.list", "--json", "{not json"],
        ["--webhook", wrong, "--debug", "call", "crm.status.list"],
        ["--webhook", f"http://127.0.0.1:{dead_port}/rest/1/{WEBHOOK_CODE}/", "--debug", "call", "crm.status.list"],
        ["--webhook", f"http://portal.example.com/rest/1/{WEBHOOK_CODE}/", "--debug", "call", "crm.status.list"],
        ["--webhook", f"https://portal.example.com/rest/{WEBHOOK_CODE}", "--debug", "call", "crm.status.list"],
    ]
    emu.faults.add(method="crm.status.list", kind="html", times=4)  # the CLI's first list sees proxy pages
    codes = []
    logger = logging.getLogger("b24crm")
    for argv in runs:
        out, err = io.StringIO(), io.StringIO()
        handlers, level = list(logger.handlers), logger.level
        try:
            codes.append(cli.main(argv, out, err))
        finally:
            logger.handlers[:], logger.level = handlers, level  # --debug adds a handler each run
        ev.add(f"cli {argv[3:5]} stdout", out.getvalue())
        ev.add(f"cli {argv[3:5]} stderr", err.getvalue())
    assert codes[0] == 1 and codes[1] == 0 and codes[4] == 0, codes
    assert all(c != 0 for i, c in enumerate(codes) if i not in (1, 4)), codes
    assert any("DEBUG" in text for where, text in ev.texts if where.endswith("stderr")), "--debug logged nothing"

    # --- the emulator: its answers, stats and fault listings -----------------------------------------------
    pool = urllib3.PoolManager(retries=False)
    for path in ("/_emulator/stats", "/_emulator/faults", "/rest/1/crm.status.list", "/oauth/token/"):
        headers = emu.control_headers if path.startswith("/_emulator/") else {}
        resp = pool.request("POST" if "oauth" in path else "GET", emu.base_url + path, headers=headers)
        assert resp.status == 200 or not path.startswith("/_emulator/"), resp.data
        ev.add(f"emulator {path}", resp.data.decode("utf-8", "replace"))
    resp = pool.request("GET", emu.base_url + "/_emulator/stats")  # the control-token refusal, too
    ev.add("emulator control refusal", resp.data.decode())
    resp = pool.request(
        "POST",
        emu.base_url + "/oauth/token/",
        fields={"grant_type": "refresh_token", "client_id": "wrong", "client_secret": CLIENT_SECRET[::-1]},
        encode_multipart=False,
    )
    ev.add("emulator token error", resp.data.decode())
    pool.clear()
    ev.add("emulator stats", json.dumps(emu.stats()))
    ev.add("emulator repr", repr(emu))

    # --- everything logged or printed ----------------------------------------------------------------------
    assert caplog.records, "nothing was logged at DEBUG"
    assert any(r.name.startswith("urllib3") for r in caplog.records), "urllib3's DEBUG lines were not captured"
    for record in caplog.records:
        ev.add(f"log record {record.name}", record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            ev.error(f"logged exception {record.name}", record.exc_info[1])
    captured = capfd.readouterr()
    ev.add("process stdout", captured.out)
    ev.add("process stderr", captured.err)
    assert len(ev.texts) > 100
    leaks = ev.leaks()
    assert not leaks, "\n".join(leaks)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rendered(record: logging.LogRecord) -> str:
    """The record as a handler would print it, traceback included."""
    return logging.Formatter("%(name)s %(levelname)s %(message)s").format(record)


def test_urllib3_header_warning_is_redacted(canary_emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    # A malformed header line makes urllib3.connection log "Failed to parse headers (url=...)" with the URL.
    caplog.set_level(logging.DEBUG)
    client = canary_emu.client(**client_options())
    canary_emu.faults.add(method="crm.status.list", kind="bad_headers", times=1)
    assert client.crm.status.list(filter={"ENTITY_ID": "SOURCE"})
    client.close()
    warnings = [r for r in caplog.records if r.name == "urllib3.connection" and "parse headers" in r.getMessage()]
    assert warnings, "the fault did not make urllib3 warn: this test could not fail"
    texts = [_rendered(r) for r in caplog.records if r.name.startswith("urllib3")]
    assert "/rest/1/***/crm.status.list.json" in "".join(_rendered(r) for r in warnings)
    assert not [t for t in texts if WEBHOOK_CODE in t], "the webhook code is in a urllib3 log line"


def test_failing_on_tokens_callback_is_logged_without_the_tokens(
    canary_emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    issued: list[Any] = []

    def save(tokens: Any) -> None:  # a storage failure whose message, like a failed INSERT's, holds the tokens
        issued.append(tokens)
        raise RuntimeError(f"INSERT INTO tokens VALUES ('{tokens.access_token}', '{tokens.refresh_token}') failed")

    caplog.set_level(logging.DEBUG)
    app_logger = logging.getLogger("app.crm")  # the client's logger= is guarded like b24crm's own
    oauth = canary_emu.client("oauth", **client_options(), on_tokens=save, logger=app_logger)
    canary_emu.faults.add(method="crm.status.list", kind="expired_token", times=1)
    assert oauth.crm.status.list()  # the refresh succeeded; the callback's failure does not fail the call
    oauth.close()
    assert len(issued) == 1
    failed = [r for r in caplog.records if "on_tokens callback failed" in r.getMessage()]
    assert failed and failed[0].name == "app.crm" and "RuntimeError" in failed[0].getMessage()
    secrets = (issued[0].access_token, issued[0].refresh_token, *CANARIES)
    texts = [_rendered(r) for r in caplog.records]
    assert not [t for t in texts for s in secrets if s in t], "a token is in a log line or its traceback"
