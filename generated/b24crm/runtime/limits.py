"""Every numeric limit of the Bitrix24 REST protocol, in one place (docs/protocol.md#paging, #batch, #rate-limit).

The client's limiter, the paging strategies and the emulator all read these; nothing else hard-codes them.
"""

from __future__ import annotations

from typing import Final

#: Records per page of every list method (``IRestService::LIST_LIMIT``).
PAGE_SIZE: Final = 50
#: Commands one ``batch`` call executes; the rest get ERROR_BATCH_LENGTH_EXCEEDED.
BATCH_MAX_COMMANDS: Final = 50
#: PHP's ``max_input_vars`` (php.ini default): ``parse_str`` of a batch command, a query string or a form body
#: keeps the first 1,000 variables and silently drops the rest, so no command may hold more.
MAX_INPUT_VARS: Final = 1000
#: PHP's ``max_input_nesting_level`` (php.ini default): ``parse_str`` drops a variable nested deeper.
MAX_INPUT_NESTING: Final = 64
#: ``start`` value that switches the count off (no ``total``, no ``next`` on D7 methods).
START_NO_COUNT: Final = -1

#: Leaky-bucket plans: name -> (burst X, drain rate Y per second). Once the counter exceeds X the next
#: request gets 503, so X + 1 requests fit from empty (limits.md).
RATE_PLANS: Final[dict[str, tuple[int, float]]] = {
    "standard": (50, 2.0),
    "enterprise": (250, 5.0),
}

#: Requests the client's limiter leaves unused of the X + 1 the portal admits from empty. Its clock and the
#: portal's never agree exactly (network jitter reorders arrival times by milliseconds), so filling the
#: bucket to the last slot would now and then meet a 503 (measured: ratelimit._usable); two slots of headroom
#: absorb up to 2/rate seconds of jitter. The client thus fills X - 1 on the real plans.
RATE_HEADROOM: Final = 2
#: ... and at least this much jitter, whatever the rate: at the real plans' 2-5 requests/s two slots cover it,
#: but a custom plan of hundreds per second (a scaled test portal) needs ``rate × 0.05`` slots.
RATE_JITTER_SECONDS: Final = 0.05

#: Per-method operating time allowed inside the sliding window before 429 OPERATION_TIME_LIMIT.
#: The code defaults to 420 s, the cloud docs' example and the peers use 480 s (docs/protocol.md#sources-disagree).
OPERATING_LIMIT_SECONDS: Final = 480.0
#: The window: 10 buckets of 60 s.
OPERATING_WINDOW_SECONDS: Final = 600
OPERATING_BUCKET_SECONDS: Final = 60
#: A run shorter than this is not recorded (``minimalFixTime``).
OPERATING_MIN_RECORDED_SECONDS: Final = 0.1

#: One request must finish within this on cloud portals.
REQUEST_TIME_LIMIT_SECONDS: Final = 60.0

#: OAuth access-token lifetime (docs/protocol.md#oauth).
ACCESS_TOKEN_TTL_SECONDS: Final = 3600
