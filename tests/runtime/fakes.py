"""Test doubles for the runtime: a scripted transport, a fake clock, a tiny registry and a fake list portal."""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from b24crm._registry import REGISTRY as SPEC_REGISTRY
from b24crm.errors import KINDS
from b24crm.runtime.client import BaseClient
from b24crm.runtime.errors import AccessDenied, InvalidParams, NotFound, RateLimited, ServerError
from b24crm.runtime.spec import ErrorRow, MethodSpec, Pagination, Registry
from b24crm.runtime.transport import HttpResponse

WEBHOOK = "https://example.bitrix24.com/rest/7/s3cr3tc0dexyz/"
SECRET = "s3cr3tc0dexyz"


class FakeClock:
    """Time advances only when someone sleeps; wall time starts at a fixed unix moment."""

    def __init__(self, wall: float = 1_700_000_000.0) -> None:
        self._lock = threading.Lock()
        self.now = 0.0
        self.wall0 = wall
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.wall0 + self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if seconds > 0:
                self.now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@attrs.frozen
class Request:
    method: str
    url: str
    body: bytes | None
    headers: Mapping[str, str]
    timeout: tuple[float, float]
    deadline: float | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    @property
    def api_method(self) -> str:
        return self.url.rsplit("/", 1)[-1].removesuffix(".json")


Handler = Callable[[Request], HttpResponse]


class FakeTransport:
    """Records every request and answers through ``handler`` (which may raise transport failures)."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler: Handler = handler or (lambda r: ok(True))
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self.closed = False

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: tuple[float, float],
        deadline: float | None = None,
    ) -> HttpResponse:
        req = Request(method, url, body, dict(headers), timeout, deadline)
        with self._lock:
            self.requests.append(req)
        return self.handler(req)

    def close(self) -> None:
        self.closed = True


class Script:
    """A handler answering from a list of responses/exceptions in order, then repeating the last."""

    def __init__(self, *steps: HttpResponse | BaseException) -> None:
        self.steps = list(steps)
        self.i = 0

    def __call__(self, req: Request) -> HttpResponse:
        step = self.steps[min(self.i, len(self.steps) - 1)]
        self.i += 1
        if isinstance(step, BaseException):
            raise step
        return step


def body(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> HttpResponse:
    return HttpResponse(status, dict(headers or {"content-type": "application/json"}), json.dumps(data).encode())


def ok(result: Any, **extra: Any) -> HttpResponse:
    extra.setdefault("time", {"start": 1.0, "finish": 1.1, "duration": 0.1})
    return body({"result": result, **extra})


def err(code: str, description: str, status: int) -> HttpResponse:
    return body({"error": code, "error_description": description}, status)


def raw(status: int, text: str) -> HttpResponse:
    return HttpResponse(status, {"content-type": "text/html"}, text.encode())


# --- a tiny spec -------------------------------------------------------------------------------------------


class StatusNotFoundError(NotFound):
    kind = KINDS["not_found"]
    wire_code = ""
    wire_message = "Status is not found."
    wire_status = 400
    meaning = "The directory element was not found"


class DuplicateStatusError(ServerError):
    kind = KINDS["failed"]
    wire_code = "ERROR_CORE"
    wire_message = "The specified status ID already exists."
    wire_status = 400


class OtherCoreError(ServerError):
    kind = KINDS["failed"]
    wire_code = "ERROR_CORE"
    wire_message = "Something else."
    wire_status = 400


class CrmAccessDenied(AccessDenied):
    kind = KINDS["access_denied"]
    wire_code = ""
    wire_message = "Access denied."
    wire_status = 400


class QueryLimitExceeded(RateLimited):
    kind = KINDS["throttled"]
    wire_code = "QUERY_LIMIT_EXCEEDED"
    wire_message = "Too many requests"
    wire_status = 503


class OperationTimeLimit(RateLimited):
    kind = KINDS["operating_limit"]
    wire_code = "OPERATION_TIME_LIMIT"
    wire_message = "Method is blocked due to operation time limit."
    wire_status = 429


class EntityTypeNotSupported(InvalidParams):
    kind = KINDS["invalid_params"]
    wire_code = "ENTITY_TYPE_NOT_SUPPORTED"
    wire_status = 400


def _row(cls: ErrorRow) -> ErrorRow:
    return cls


@attrs.frozen(kw_only=True)
class Status:
    id: int = attrs.field(metadata={"wire": "ID"})
    status_id: str = attrs.field(metadata={"wire": "STATUS_ID"})
    additional_properties: Mapping[str, Any] = attrs.field(factory=dict, metadata={"additional": True})


@attrs.frozen(kw_only=True)
class Item:
    id: int = attrs.field(metadata={"wire": "ID"})
    additional_properties: Mapping[str, Any] = attrs.field(factory=dict, metadata={"additional": True})


ADD_SCHEMA = {
    "type": "object",
    "required": ["fields"],
    "properties": {
        "fields": {
            "type": "object",
            "required": ["ENTITY_ID", "STATUS_ID", "NAME"],
            "properties": {
                "ENTITY_ID": {"type": "string"},
                "STATUS_ID": {"type": "string", "maxLength": 8},
                "NAME": {"type": "string"},
                "SORT": {"type": "integer", "minimum": 1},
            },
        }
    },
}

LIST_SCHEMA = {
    "type": "object",
    "properties": {
        "order": {"type": "object"},
        "filter": {"type": "object"},
        "select": {"type": "array", "items": {"type": "string"}},
        "start": {"type": "integer"},
    },
}


def _pg(items_path: tuple[str, ...], count_free: bool = True) -> Pagination:
    return Pagination(
        page_size=50,
        items_path=items_path,
        id_field="ID",
        order_param="order",
        filter_param="filter",
        start_param="start",
        count_free=count_free,
    )


def _spec(
    name: str,
    *,
    idempotent: bool,
    schema: Any = None,
    pagination: Pagination | None = None,
    errors: Iterable[ErrorRow] = (),
    deprecated: bool = False,
    batchable: bool = True,
) -> MethodSpec:
    return MethodSpec(
        name=name,
        idempotent=idempotent,
        batchable=batchable,
        deprecated=deprecated,
        scope="crm",
        request_schema=schema,
        pagination=pagination,
        errors=tuple(errors),
    )


STATUS_ADD = _spec(
    "crm.status.add", idempotent=False, schema=ADD_SCHEMA, errors=[_row(DuplicateStatusError), _row(OtherCoreError)]
)
STATUS_GET = _spec(
    "crm.status.get",
    idempotent=True,
    schema={"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
    errors=[_row(StatusNotFoundError), _row(CrmAccessDenied)],
)
ITEM_LIST = _spec("crm.item.list", idempotent=True, schema=LIST_SCHEMA, pagination=_pg(("items",)))
LEGACY_LIST = _spec("crm.legacy.list", idempotent=True, schema=LIST_SCHEMA, pagination=_pg(()))
COUNTED_LIST = _spec("crm.counted.list", idempotent=True, schema=LIST_SCHEMA, pagination=_pg((), count_free=False))
OLD_METHOD = _spec("crm.old.get", idempotent=True, deprecated=True)
HISTORY_LIST = _spec(
    "crm.stagehistory.list",
    idempotent=True,
    schema=LIST_SCHEMA,
    pagination=_pg(("items",)),
    errors=[_row(EntityTypeNotSupported)],
)

REGISTRY = Registry(
    methods={
        s.name: s for s in (STATUS_ADD, STATUS_GET, ITEM_LIST, LEGACY_LIST, COUNTED_LIST, OLD_METHOD, HISTORY_LIST)
    },
    # The spec's own system table (expired_token, QUERY_LIMIT_EXCEEDED …) after the two doubles above.
    system_errors=(_row(QueryLimitExceeded), _row(OperationTimeLimit), *SPEC_REGISTRY.system_errors),
    kinds=KINDS,
)


class Client(BaseClient):
    _registry = REGISTRY


def make_client(handler: Handler | None = None, **options: Any) -> tuple[Client, FakeTransport, FakeClock]:
    transport = FakeTransport(handler)
    clock = options.pop("clock", None) or FakeClock()
    options.setdefault("rate_limit", "off")
    client = Client.from_webhook(WEBHOOK, transport=transport, clock=clock, **options)
    return client, transport, clock


# --- PHP query decoding (independent of the runtime's encoder) ----------------------------------------------

_KEY = re.compile(r"^([^\[]*)((?:\[[^\]]*\])*)$")


def parse_str(query: str) -> dict[str, Any]:
    """A small PHP parse_str: ``a[b][0]=x&c[]=y``; lists become dicts keyed by index, like PHP arrays."""
    out: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        m = _KEY.match(key)
        assert m, key
        parts = [m.group(1), *re.findall(r"\[([^\]]*)\]", m.group(2))]
        cur: dict[str, Any] = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                part = str(len(cur))
            if last:
                cur[part] = value
            else:
                cur = cur.setdefault(part, {})
    return out


# --- a fake portal serving list methods and batch ---------------------------------------------------------------


class ListPortal:
    """Records with integer IDs; list methods with ``>ID`` / ``<ID`` filters, ``start`` paging, and ``batch`` with
    ``$result`` references (an unresolvable reference resolves to the deepest value reached, like PHP)."""

    def __init__(
        self,
        ids: Iterable[int],
        *,
        items_path: tuple[str, ...] = ("items",),
        on_request: Callable[[ListPortal], None] | None = None,
        ignores_start: bool = False,
    ) -> None:
        self.ids = sorted(set(ids))
        self.items_path = items_path
        self.on_request = on_request
        self.ignores_start = ignores_start
        self.http_requests = 0
        self.commands = 0
        self.seen_start_values: list[int] = []

    def __call__(self, req: Request) -> HttpResponse:
        self.http_requests += 1
        if self.on_request is not None:
            self.on_request(self)
        data = req.json
        if req.api_method == "batch":
            return ok(self._batch(data))
        result, extra = self._list(data)
        return ok(result, **extra)

    def _wrap(self, items: list[dict[str, Any]]) -> Any:
        out: Any = items
        for key in reversed(self.items_path):
            out = {key: out}
        return out

    def _list(self, params: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        self.commands += 1
        flt = params.get("filter") or {}
        ids = self.ids
        for op in (">ID", "<ID"):
            if op in flt:
                bound = flt[op]
                if not isinstance(bound, (int, str)) or not str(bound).lstrip("-").isdigit():
                    raise ValueError("garbage cursor")
                ids = [i for i in ids if (i > int(bound) if op == ">ID" else i < int(bound))]
        order = params.get("order") or {}
        if order and next(iter(order.values())).upper() == "DESC":
            ids = list(reversed(ids))
        start = int(params.get("start", 0))
        self.seen_start_values.append(start)
        extra: dict[str, Any] = {}
        if self.ignores_start:
            page = ids
            extra["total"] = len(ids)
        elif start == -1:
            page = ids[:50]
        else:
            page = ids[start : start + 50]
            extra["total"] = len(ids)
            if start + 50 < len(ids):
                extra["next"] = start + 50
        return self._wrap([{"ID": str(i), "NAME": f"n{i}"} for i in page]), extra

    def _batch(self, data: Mapping[str, Any]) -> Any:
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        totals: dict[str, Any] = {}
        nexts: dict[str, Any] = {}
        halt = bool(int(data.get("halt", 0)))
        for key, cmd in data["cmd"].items():
            _, _, query = cmd.partition("?")
            params = self._substitute(parse_str(query), results)
            try:
                result, extra = self._list(params)
            except ValueError as exc:
                errors[key] = {"error": "INVALID_ARG_VALUE", "error_description": str(exc)}
                if halt:
                    break
                continue
            results[key] = result
            if "total" in extra:
                totals[key] = extra["total"]
            if "next" in extra:
                nexts[key] = extra["next"]
        return {
            "result": results or [],
            "result_error": errors or [],
            "result_total": totals or [],
            "result_next": nexts or [],
            "result_time": [],
        }

    def _substitute(self, value: Any, results: Mapping[str, Any]) -> Any:
        if isinstance(value, dict):
            return {k: self._substitute(v, results) for k, v in value.items()}
        if isinstance(value, str) and value.startswith("$result["):
            parts = re.findall(r"\[([^\]]*)\]", value)
            cur: Any = results
            for p in parts:
                if isinstance(cur, dict) and p in cur:
                    cur = cur[p]
                elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
                    cur = cur[int(p)]
                else:
                    break  # deepest value reached
            return cur
        return value
