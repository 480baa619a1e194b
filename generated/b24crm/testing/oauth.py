"""The OAuth side: one installed app, its access tokens and rotating refresh tokens (docs/protocol.md#oauth).

The emulator is also the authorization server (``/oauth/token/``), so a client's refresh path can be tested
end to end: access tokens expire after ``token_ttl`` (-> 401 ``expired_token``), every refresh returns a new
refresh token, and a used or unknown refresh token gives ``invalid_grant``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["OAuthApp", "TokenState"]


@attrs.frozen
class TokenState:
    """What the portal knows about one access token."""

    expires: float
    scopes: frozenset[str]


class OAuthApp:
    """Client credentials plus the live tokens of the emulator's single OAuth app."""

    def __init__(self, client_id: str, client_secret: str, scopes: frozenset[str], token_ttl: int) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes
        self.token_ttl = token_ttl
        self.member_id = secrets.token_hex(16)
        self.base_url = ""
        self._access: dict[str, TokenState] = {}
        self._refresh: set[str] = set()
        self._lock = threading.Lock()

    def issue(self, access_token: str | None = None, refresh_token: str | None = None) -> dict[str, Any]:
        """A fresh access/refresh pair (random unless given), as the token endpoint returns it."""
        access = access_token or secrets.token_hex(32)
        refresh = refresh_token or secrets.token_hex(32)
        now = time.time()
        with self._lock:
            self._access[access] = TokenState(now + self.token_ttl, self.scopes)
            self._refresh.add(refresh)
        return {
            "access_token": access,
            "expires": int(now + self.token_ttl),
            "expires_in": self.token_ttl,
            "scope": ",".join(sorted(self.scopes)),
            "domain": self.base_url.split("://", 1)[-1].rstrip("/"),
            "server_endpoint": f"{self.base_url}/rest/",
            "status": "L",
            "client_endpoint": f"{self.base_url}/rest/",
            "member_id": self.member_id,
            "user_id": 1,
            "refresh_token": refresh,
        }

    def check(self, token: str) -> TokenState | str:
        """The token's state, or ``"invalid_token"`` / ``"expired_token"``."""
        with self._lock:
            state = self._access.get(token)
        if state is None:
            return "invalid_token"
        if state.expires < time.time():
            return "expired_token"
        return state

    def refresh(self, params: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """Handle ``/oauth/token/``: (HTTP status, JSON body)."""
        grant = str(params.get("grant_type", ""))
        if grant != "refresh_token":
            return 400, {"error": "unsupported_grant_type", "error_description": "Unsupported grant type"}
        if params.get("client_id") != self.client_id or params.get("client_secret") != self.client_secret:
            return 400, {"error": "invalid_client", "error_description": "Invalid client credentials"}
        token = params.get("refresh_token")
        if not token:
            return 400, {"error": "invalid_request", "error_description": 'No "refresh_token" parameter found'}
        with self._lock:
            if token not in self._refresh:
                return 400, {"error": "invalid_grant", "error_description": "Invalid refresh token"}
            self._refresh.discard(str(token))
        return 200, self.issue()

    def expire_all(self) -> None:
        """Make every issued access token expired (tests of the refresh path without waiting)."""
        with self._lock:
            self._access = {k: TokenState(0.0, v.scopes) for k, v in self._access.items()}
