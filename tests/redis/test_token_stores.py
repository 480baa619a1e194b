"""The token-store hook: FileTokenStore and RedisTokenStore behind one interface, and OAuthAuth refreshing
once across clients that share a store (each client here stands for a process: its own OAuthAuth, its own
locks; the multi-process runs are in test_many_workers.py)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from b24crm import Client
from b24crm.runtime.auth import Tokens
from b24crm.runtime.errors import AuthError, StoreUnavailableError
from b24crm.runtime.redis_store import RedisTokenStore
from b24crm.runtime.stores import resolve_token_store
from b24crm.runtime.tokens import FileTokenStore, TokenStore
from b24crm.testing import Emulator

PAIR = Tokens("access-one-secret", "refresh-one-secret", 1_900_000_000.0, {"member_id": "m"})
NEXT = Tokens("access-two-secret", "refresh-two-secret", 1_900_003_600.0)


def _make(kind: str, tmp_path: Path, redis_url: str, **options: Any) -> TokenStore:
    if kind == "file":
        return FileTokenStore(tmp_path / "tokens.json", **options)
    return RedisTokenStore(redis_url, key="portal.example:app", **options)


@pytest.fixture(params=["file", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def store(store_kind: str, tmp_path: Path, redis_url: str) -> TokenStore:
    return _make(store_kind, tmp_path, redis_url)


def test_an_empty_store_loads_none_and_saves_only_over_what_the_caller_saw(store: TokenStore) -> None:
    assert store.load() is None
    assert store.compare_and_save(None, PAIR) is True
    assert store.load() == PAIR
    assert store.compare_and_save(None, NEXT) is False  # someone saved first: nothing overwritten
    assert store.compare_and_save("refresh-stale", NEXT) is False
    assert store.load() == PAIR
    assert store.compare_and_save(PAIR.refresh_token, NEXT) is True
    assert store.load() == NEXT
    with store.lock():  # compare_and_save also works while the caller holds the lock
        assert store.compare_and_save(NEXT.refresh_token, PAIR) is True


def test_the_store_satisfies_the_protocol_and_hides_tokens_in_repr(store: TokenStore) -> None:
    assert isinstance(store, TokenStore)
    store.compare_and_save(None, PAIR)
    assert "secret" not in repr(store) + repr(store.load())


_HOLDER = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {generated!r})
    from b24crm.runtime.redis_store import RedisTokenStore
    from b24crm.runtime.tokens import FileTokenStore
    kind, where, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    ttl = 1.0 if mode == "crash" else 60.0  # the Redis lock's expiry
    store = FileTokenStore(where, lock_timeout=ttl) if kind == "file" else RedisTokenStore(
        where, key="portal.example:app", lock_timeout=ttl)
    with store.lock():
        print("locked", flush=True)
        if mode == "crash":
            os._exit(3)  # no unlock: as if the worker were killed mid-refresh
        sys.stdin.readline()
    print("released", flush=True)
    """
)


def _holder(kind: str, tmp_path: Path, redis_url: str, mode: str) -> subprocess.Popen[str]:
    generated = str(Path(__file__).resolve().parents[2] / "generated")
    where = str(tmp_path / "tokens.json") if kind == "file" else redis_url
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER.format(generated=generated), kind, where, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_the_lock_is_exclusive_across_processes(store_kind: str, tmp_path: Path, redis_url: str) -> None:
    holder = _holder(store_kind, tmp_path, redis_url, "hold")
    try:
        waiting = _make(store_kind, tmp_path, redis_url, lock_timeout=0.3)
        with pytest.raises(StoreUnavailableError, match="lock"), waiting.lock():
            pass  # pragma: no cover - never reached while the other process holds the lock
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        with waiting.lock():
            assert waiting.compare_and_save(None, PAIR)
    finally:
        holder.kill()
        holder.wait()


def test_a_crashed_holder_does_not_block_the_others(store_kind: str, tmp_path: Path, redis_url: str) -> None:
    holder = _holder(store_kind, tmp_path, redis_url, "crash")
    assert holder.wait(timeout=30) == 3
    # The file lock died with its process; the Redis lock expires after the holder's lock_timeout (1 s).
    with _make(store_kind, tmp_path, redis_url, lock_timeout=5.0).lock():
        pass


def test_the_token_file_is_private_and_a_broken_one_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    file_store = FileTokenStore(path)
    file_store.compare_and_save(None, PAIR)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    path.write_text('{"access_token": "leaked-secret-value", "refresh_token": 5}')
    with pytest.raises(StoreUnavailableError) as info:
        file_store.load()
    assert str(path) in str(info.value)
    assert "leaked-secret-value" not in str(info.value)


def test_token_store_settings(tmp_path: Path, redis_url: str) -> None:
    def resolve(setting: Any) -> TokenStore | None:
        return resolve_token_store(setting, key="h:app", wait=1.0, logger=__import__("logging").getLogger("t"))

    assert resolve(None) is None
    file_store = resolve(f"file://{tmp_path}/a.json")
    assert isinstance(file_store, FileTokenStore) and file_store.path == tmp_path / "a.json"
    assert isinstance(resolve(tmp_path / "b.json"), FileTokenStore)
    assert isinstance(resolve(str(tmp_path / "c.json")), FileTokenStore)
    assert isinstance(resolve(redis_url), RedisTokenStore)
    mine = FileTokenStore(tmp_path / "d.json")
    assert resolve(mine) is mine
    with pytest.raises(ValueError, match="token_store must be a redis:// or file:// URL"):
        resolve("https://vault.example/tokens")


# -- OAuthAuth with a store, against the emulator's token endpoint --------------------------------------------
@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(seed="demo") as emulator:
        yield emulator


def _client(emu: Emulator, token_store: Any, seen: list[Tokens] | None = None) -> Client:
    creds = emu.oauth
    return Client.from_oauth(
        emu.base_url,
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        access_token=creds.access_token,
        refresh_token=creds.refresh_token,
        token_url=creds.token_url,
        token_store=token_store,
        on_tokens=None if seen is None else seen.append,
        rate_limit="off",
    )


def test_without_a_store_the_second_process_to_refresh_is_logged_out(emu: Emulator) -> None:
    # The defect the hook fixes: both hold the same refresh token; the first refresh rotates it away.
    first, second = _client(emu, None), _client(emu, None)
    emu.expire_tokens()
    first.crm.enum.ownertype()
    with pytest.raises(AuthError) as info:
        second.crm.enum.ownertype()
    assert info.value.code == "invalid_grant"


def test_clients_sharing_a_store_refresh_once_and_the_others_adopt(
    emu: Emulator, store_kind: str, tmp_path: Path, redis_url: str
) -> None:
    setting = str(tmp_path / "tokens.json") if store_kind == "file" else redis_url
    seen: list[Tokens] = []
    clients = [_client(emu, setting, seen) for _ in range(3)]
    for client in clients:
        client.crm.enum.ownertype()
    emu.expire_tokens()
    for client in clients:
        client.crm.enum.ownertype()
    assert emu.stats()["oauth_refreshes"] == 1
    assert len(seen) == 1
    auths: list[Any] = [c._auth for c in clients]
    assert sorted((a.refreshes, a.adopted) for a in auths) == [(0, 1), (0, 1), (1, 0)]
    stored = auths[0].token_store.load()
    assert stored is not None and stored.refresh_token == seen[0].refresh_token


class _StaleFirstLoad(FileTokenStore):
    """A process whose first read of the store came before another process saved (its lock had expired)."""

    def __init__(self, path: Path, stale: Tokens) -> None:
        super().__init__(path)
        self._stale: Tokens | None = stale

    def load(self) -> Tokens | None:
        if self._stale is not None:
            stale, self._stale = self._stale, None
            return stale
        return super().load()


def test_the_loser_of_a_race_reloads_the_store_and_retries_once(emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    winner = _client(emu, str(path))
    creds = emu.oauth
    emu.expire_tokens()
    winner.crm.enum.ownertype()  # refreshes and saves the new pair
    original = Tokens(creds.access_token, creds.refresh_token, None)
    loser = _client(emu, _StaleFirstLoad(path, original))
    assert loser.crm.enum.ownertype()  # invalid_grant with the used token → reload → the winner's pair → ok
    auth: Any = loser._auth
    assert (auth.refreshes, auth.adopted) == (0, 1)
    assert emu.stats()["oauth_refreshes"] == 1


def test_a_pair_passed_in_after_re_authorizing_beats_an_older_stored_one(emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    old = Tokens("old-access", "old-refresh-revoked", 1.0)  # what the store still holds from long ago
    FileTokenStore(path).compare_and_save(None, old)
    creds = emu.oauth
    client = Client.from_oauth(
        emu.base_url,
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        access_token=creds.access_token,
        refresh_token=creds.refresh_token,
        expires_at=float(creds.expires),
        token_url=creds.token_url,
        token_store=path,
        rate_limit="off",
    )
    emu.expire_tokens()
    client.crm.enum.ownertype()
    stored = FileTokenStore(path).load()
    assert stored is not None and stored.refresh_token not in (old.refresh_token, creds.refresh_token)
    assert emu.stats()["oauth_refreshes"] == 1


class _CannotSave(FileTokenStore):
    """A store that dies between the refresh and the save (Redis gone, disk full)."""

    def compare_and_save(self, expected_refresh_token: str | None, tokens: Tokens) -> bool:
        raise StoreUnavailableError("test store", "saving failed")


def test_a_refreshed_pair_is_kept_even_when_the_store_cannot_save_it(
    emu: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The token server has already rotated the refresh token: losing the new pair would log the app out.
    seen: list[Tokens] = []
    client = _client(emu, _CannotSave(tmp_path / "tokens.json"), seen)
    emu.expire_tokens()
    with caplog.at_level("WARNING", logger="b24crm"):
        assert client.crm.enum.ownertype()
    assert len(seen) == 1 and emu.stats()["oauth_refreshes"] == 1
    assert any("could not be saved to the token store" in r.getMessage() for r in caplog.records)
    emu.expire_tokens()  # and the kept pair refreshes again next time
    assert client.crm.enum.ownertype()
    assert emu.stats()["oauth_refreshes"] == 2
