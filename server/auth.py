"""Auth primitives of the server: signing secret, password hashing, JWTs, revocation, throttling.

Pure library: no routes and no I/O beyond the secret file. Times come from injectable clocks.
"""

from __future__ import annotations

import heapq
import logging
import os
import re
import secrets
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import Argon2Error

log = logging.getLogger(__name__)
Clock = Callable[[], float]

SECRET_ENV = "WORKBENCH_JWT_SECRET"
SECRET_FILE = "jwt.secret"
MIN_SECRET_BYTES = 32
ALGORITHM = "HS256"
MAX_TOKEN_CHARS = 8192
VERIFIED_CACHE = 10_000  # tokens whose signature was checked, most recently used kept
REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti", "iss"]
# pyjwt checks presence, signature and issuer; times are checked against the injected clock
_DECODE_OPTIONS: Any = {
    "require": REQUIRED_CLAIMS,
    "verify_exp": False,
    "verify_iat": False,
    "verify_nbf": False,
}
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


# --- signing secret ---------------------------------------------------------------------------


def load_secret(data_dir: Path, env: Mapping[str, str] = os.environ) -> bytes:
    """The JWT signing secret: `$WORKBENCH_JWT_SECRET` if set, else `data_dir/jwt.secret`.

    The file is generated on first use (owner-only, created exclusively so concurrent starters
    agree on one secret); an existing file readable by group/others is tightened to 0600.
    """
    value = env.get(SECRET_ENV)
    if value is not None:
        secret = value.encode("utf-8", "surrogateescape")
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"{SECRET_ENV} is {len(secret)} bytes; it must be at least {MIN_SECRET_BYTES} "
                "(generate one with: python -c 'import secrets; print(secrets.token_hex(32))')"
            )
        return secret
    path = Path(data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret_file(path)
    secret = secrets.token_hex(32).encode("ascii")
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
        f.flush()
        os.fsync(f.fileno())
    log.info("generated a new JWT signing secret in %s", path)
    return secret


def _read_secret_file(path: Path, wait_s: float = 2.0) -> bytes:
    """Read an existing secret file, waiting briefly if another process is still writing it."""
    mode = os.stat(path).st_mode
    if mode & 0o077:
        os.chmod(path, 0o600)
        log.warning("%s was readable by group/others (mode %o); tightened to 0600", path, mode)
    deadline = time.monotonic() + wait_s
    while True:
        secret = path.read_bytes().strip()
        if len(secret) >= MIN_SECRET_BYTES:
            return secret
        if time.monotonic() >= deadline:
            raise ValueError(
                f"{path} holds {len(secret)} bytes, fewer than {MIN_SECRET_BYTES}; delete it to "
                "generate a new secret (this signs everyone out)"
            )
        time.sleep(0.01)


# --- passwords --------------------------------------------------------------------------------

PASSWORD_HASHER = PasswordHasher()  # argon2id with the library's default (RFC 9106) parameters
_dummy_hash: tuple[PasswordHasher, str] | None = None


def set_password_cost(time_cost: int, memory_cost: int, parallelism: int = 1) -> None:
    """Replace the hasher (e.g. cheap parameters in tests). Existing hashes still verify."""
    global PASSWORD_HASHER
    PASSWORD_HASHER = PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
    )


def hash_password(pw: str) -> str:
    """An argon2id hash of `pw` (salted, parameters encoded in the string)."""
    return PASSWORD_HASHER.hash(pw)


def verify_password(hash: str | None, pw: str) -> bool:
    """True iff `pw` matches `hash`; False on mismatch or a malformed hash, never raises.

    With `hash=None` (unknown user) it spends the same work on a dummy hash and returns False,
    so the response time does not tell whether an account exists.
    """
    global _dummy_hash
    hasher = PASSWORD_HASHER
    if hash is None and (_dummy_hash is None or _dummy_hash[0] is not hasher):
        _dummy_hash = (hasher, hasher.hash(secrets.token_hex(16)))
    try:
        ok = hasher.verify(hash if hash is not None else _dummy_hash[1], pw)
    except (Argon2Error, ValueError, TypeError, AttributeError):  # mismatch, malformed, non-str
        return False
    return ok and hash is not None


def password_problem(pw: str) -> str | None:
    """Why `pw` is not acceptable as a new password, or None if it is."""
    if not isinstance(pw, str):
        return "password must be a string"
    if len(pw) < 8:
        return "password must be at least 8 characters"
    if len(pw) > 256:
        return "password must be at most 256 characters"
    if not pw.strip():
        return "password must not be only whitespace"
    return None


# --- tokens -----------------------------------------------------------------------------------


class AuthError(Exception):
    """A token or credential was refused; the message is fit to show to a person."""


class RevocationStore(Protocol):
    def is_revoked(self, jti: str) -> bool: ...
    def revoke(self, jti: str, exp: int) -> None: ...


class MemoryRevocations:
    """Revoked token ids in memory, each forgotten once its token has expired anyway.

    Give it the same clock as the TokenService it serves.
    """

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._exp: dict[str, int] = {}
        self._heap: list[tuple[int, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._prune()
            return len(self._exp)

    def is_revoked(self, jti: str) -> bool:
        with self._lock:
            self._prune()
            return jti in self._exp

    def revoke(self, jti: str, exp: int) -> None:
        with self._lock:
            self._prune()
            if exp > self._clock() and (jti not in self._exp or exp > self._exp[jti]):
                self._exp[jti] = exp
                heapq.heappush(self._heap, (exp, jti))

    def _prune(self) -> None:
        now = self._clock()
        while self._heap and self._heap[0][0] <= now:
            exp, jti = heapq.heappop(self._heap)
            if self._exp.get(jti) == exp:
                del self._exp[jti]


_JWT_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.InvalidSignatureError, "invalid token signature"),
    (jwt.InvalidAlgorithmError, "token algorithm not allowed"),
    (jwt.InvalidIssuerError, "token issuer not accepted"),
    (jwt.InvalidAudienceError, "token audience not accepted"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.DecodeError, "malformed token"),
)


class TokenService:
    """Issues and verifies HS256 JWTs (sub, iat, exp, jti, iss); nothing else is accepted."""

    def __init__(
        self,
        secret: bytes,
        *,
        ttl_s: int = 86400,
        issuer: str = "workbench",
        revocations: RevocationStore,
        clock: Clock = time.time,
    ) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"JWT secret must be at least {MIN_SECRET_BYTES} bytes")
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self._secret = secret
        self.ttl_s = int(ttl_s)
        self.issuer = issuer
        self._revocations = revocations
        self._clock = clock
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def issue(self, user_id: str) -> tuple[str, dict[str, Any]]:
        """A signed token for `user_id` and its claims."""
        if not isinstance(user_id, str) or not user_id:
            raise ValueError("user_id must be a non-empty string")
        now = int(self._clock())
        claims = {"sub": user_id, "iat": now, "exp": now + self.ttl_s, "jti": uuid.uuid4().hex}
        claims["iss"] = self.issuer
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), claims

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid, unexpired, unrevoked token; AuthError for any other input."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            raise AuthError("malformed token")
        known = self._verified.get(token)
        if known is not None:  # signature checked before; time and revocation checked now
            self._check_claims(known)
            self._verified.move_to_end(token)
            return dict(known)
        if not _JWT_SHAPE.fullmatch(token):  # also keeps non-ASCII out of the JSON decoders
            raise AuthError("malformed token")
        try:
            if jwt.get_unverified_header(token).get("alg") != ALGORITHM:
                raise AuthError("token algorithm not allowed")
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options=_DECODE_OPTIONS,
                leeway=0,
                issuer=self.issuer,
            )
        except AuthError:
            raise
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks the {exc.claim!r} claim") from exc
        except jwt.InvalidTokenError as exc:
            message = next((m for cls, m in _JWT_ERRORS if isinstance(exc, cls)), "invalid token")
            raise AuthError(message) from exc
        except Exception as exc:  # e.g. RecursionError on deeply nested JSON in a segment
            raise AuthError("malformed token") from exc
        self._check_claims(claims)
        self._verified[token] = dict(claims)
        if len(self._verified) > VERIFIED_CACHE:
            self._verified.popitem(last=False)
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", 0)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (exp, iat, nbf)):
            raise AuthError("malformed token claims")
        if not all(isinstance(claims[k], str) and claims[k] for k in ("sub", "jti")):
            raise AuthError("malformed token claims")
        now = self._clock()
        if now >= exp:
            raise AuthError("token expired")
        if iat > now:
            raise AuthError("token issued in the future")
        if now < nbf:
            raise AuthError("token not yet valid")
        if self._revocations.is_revoked(claims["jti"]):
            raise AuthError("token revoked")

    def revoke(self, claims: Mapping[str, Any]) -> None:
        """Refuse the token with these (verified) claims from now until it expires."""
        self._revocations.revoke(str(claims["jti"]), int(claims["exp"]))


# --- throttling -------------------------------------------------------------------------------


class RateLimiter:
    """Sliding-window limit of `limit` attempts per `window_s` seconds, per key.

    Only allowed attempts are recorded, so a retry-after is a promise and each key keeps at most
    `limit` timestamps; keys with nothing in the window are pruned and at most `max_keys` are kept
    (the least recently hit are dropped first).
    """

    def __init__(
        self, limit: int, window_s: float, clock: Clock = time.monotonic, max_keys: int = 100_000
    ) -> None:
        if limit < 1 or window_s <= 0 or max_keys < 1:
            raise ValueError("limit and max_keys must be >= 1 and window_s > 0")
        self.limit, self.window_s, self.max_keys = limit, window_s, max_keys
        self._clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()  # oldest last-hit first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._hits)

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may make an attempt (0 if now), without recording one."""
        with self._lock:
            return self._wait(key, self._clock())

    def hit(self, key: str) -> float:
        """Record an attempt and return 0, or return the seconds to wait if over the limit."""
        with self._lock:
            now = self._clock()
            wait = self._wait(key, now)
            if wait:
                return wait
            self._hits.setdefault(key, deque()).append(now)
            self._hits.move_to_end(key)
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
            return 0.0

    def reset(self, key: str) -> None:
        """Forget every attempt of `key`."""
        with self._lock:
            self._hits.pop(key, None)

    def _wait(self, key: str, now: float) -> float:
        horizon = now - self.window_s
        # keys are ordered by their latest hit: drop the ones whose latest hit left the window
        while self._hits and next(iter(self._hits.values()))[-1] <= horizon:
            self._hits.popitem(last=False)
        times = self._hits.get(key)
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            self._hits.pop(key, None)
            return 0.0
        return times[0] + self.window_s - now if len(times) >= self.limit else 0.0


class LoginThrottle:
    """Per-email and per-client limits on login attempts.

    Call `check` before looking at the password and refuse if it returns > 0: then even the
    right password is refused until the window passes, so the throttle is not an oracle. An
    allowed `check` counts the attempt at once (so concurrent guesses count too); `succeeded`
    clears the email's count. Per client every attempt counts, which also bounds hashing work.
    """

    def __init__(
        self,
        per_email: tuple[int, float] = (5, 300.0),
        per_client: tuple[int, float] = (30, 60.0),
        clock: Clock = time.monotonic,
    ) -> None:
        self.per_email = RateLimiter(*per_email, clock=clock)
        self.per_client = RateLimiter(*per_client, clock=clock)
        self._lock = threading.Lock()

    @staticmethod
    def _email(email: str) -> str:
        return email.strip().lower()

    def check(self, email: str, client: str) -> float:
        """Seconds to wait before this attempt may proceed; 0 means go on (and it is counted)."""
        email = self._email(email)
        with self._lock:
            wait = max(self.per_email.retry_after(email), self.per_client.retry_after(client))
            if wait:
                return wait
            self.per_email.hit(email)
            self.per_client.hit(client)
            return 0.0

    def failed(self, email: str, client: str) -> None:
        """A checked attempt failed: it stays counted (`check` already recorded it)."""

    def succeeded(self, email: str, client: str) -> None:
        """A checked attempt succeeded: the email's failures are forgotten."""
        self.per_email.reset(self._email(email))
