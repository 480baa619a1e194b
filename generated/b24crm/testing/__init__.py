"""``b24crm.testing``: a local Bitrix24 portal for tests, demos and benchmarks.

``from b24crm.testing import Emulator``; see :class:`Emulator`. Handlers for user-added methods follow
:mod:`b24crm.testing.api` (``BitrixError``, ``Result``, ``CallContext``);
``paginate`` gives them classic list paging.
"""

from __future__ import annotations

from b24crm.testing.api import AuthInfo, BitrixError, CallContext, Handler, Result
from b24crm.testing.emulator import Emulator, OAuthCredentials
from b24crm.testing.paging import paginate
from b24crm.testing.state import StateFileInUseError

__all__ = [
    "AuthInfo",
    "BitrixError",
    "CallContext",
    "Emulator",
    "Handler",
    "OAuthCredentials",
    "Result",
    "StateFileInUseError",
    "paginate",
]
