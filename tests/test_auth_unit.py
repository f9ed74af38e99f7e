"""Unit tests of server/auth.py: signing secret, passwords, JWTs, revocation, rate limiting."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server import auth
from server.auth import (
    AuthError,
    LoginThrottle,
    MemoryRevocations,
    RateLimiter,
    TokenService,
    hash_password,
    load_secret,
    password_problem,
    set_password_cost,
    verify_password,
)

SECRET = b"s" * 64  # long enough for HS512 too, so forging tests raise no key warnings
OTHER_SECRET = b"o" * 32
T0 = 1_700_000_000.0


class Clock:
    """A settable clock for tests."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(autouse=True)
def cheap_passwords() -> Iterator[None]:
    saved = auth.PASSWORD_HASHER
    set_password_cost(time_cost=1, memory_cost=8)
    yield
    auth.PASSWORD_HASHER = saved


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(clock: Clock) -> TokenService:
    return TokenService(SECRET, ttl_s=3600, revocations=MemoryRevocations(clock), clock=clock)


def b64(data: bytes | dict) -> str:
    if isinstance(data, dict):
        data = json.dumps(data).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_at(t: float = T0, **overrides: object) -> dict:
    claims = {"sub": "u1", "iat": int(t), "exp": int(t) + 60, "jti": "j" * 32, "iss": "workbench"}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def refused(service: TokenService, token: object) -> str:
    with pytest.raises(AuthError) as info:
        service.verify(token)  # type: ignore[arg-type]
    return str(info.value)


# --- secret -----------------------------------------------------------------------------------


def test_env_secret_wins_and_no_file_is_written(tmp_path: Path) -> None:
    value = "e" * 40
    assert load_secret(tmp_path, {"WORKBENCH_JWT_SECRET": value}) == value.encode()
    assert not (tmp_path / "jwt.secret").exists()


@pytest.mark.parametrize("value", ["", "short", "x" * 31])
def test_short_env_secret_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValueError, match="WORKBENCH_JWT_SECRET .* at least 32"):
        load_secret(tmp_path, {"WORKBENCH_JWT_SECRET": value})


def test_generated_secret_file_is_private_and_stable(tmp_path: Path) -> None:
    first = load_secret(tmp_path / "data", {})
    path = tmp_path / "data" / "jwt.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64 and bytes.fromhex(first.decode())
    assert load_secret(tmp_path / "data", {}) == first
    assert path.read_bytes() == first
    assert load_secret(tmp_path / "other", {}) != first


def test_loose_secret_file_is_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "jwt.secret"
    path.write_bytes(b"f" * 64 + b"\n")
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="server.auth"):
        assert load_secret(tmp_path, {}) == b"f" * 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "tightened" in caplog.text


def test_concurrent_first_starts_agree_on_one_secret(tmp_path: Path) -> None:
    barrier = threading.Barrier(8)
    results: list[bytes] = []

    def start() -> None:
        barrier.wait()
        results.append(load_secret(tmp_path, {}))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1
    assert (tmp_path / "jwt.secret").read_bytes() == results[0]


def test_truncated_secret_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "jwt.secret").write_bytes(b"abc")
    with pytest.raises(ValueError, match="delete it"):
        auth._read_secret_file(tmp_path / "jwt.secret", wait_s=0)


# --- passwords --------------------------------------------------------------------------------


def test_password_round_trip() -> None:
    h = hash_password("correct horse")
    assert h.startswith("$argon2id$") and "m=8,t=1,p=1" in h
    assert hash_password("correct horse") != h  # salted
    assert verify_password(h, "correct horse") is True
    assert verify_password(h, "correct horsE") is False
    assert verify_password(h, "") is False


@pytest.mark.parametrize(
    "bad_hash", ["", "garbage", "$argon2id$v=19$m=8,t=1,p=1$!!$!!", "$2b$12$" + "a" * 53, None]
)
def test_malformed_or_missing_hash_is_false(bad_hash: str | None) -> None:
    assert verify_password(bad_hash, "correct horse") is False


def test_non_string_password_is_false() -> None:
    assert verify_password(hash_password("correct horse"), None) is False  # type: ignore[arg-type]


def test_hashes_survive_a_cost_change() -> None:
    h = hash_password("correct horse")
    set_password_cost(time_cost=2, memory_cost=16)
    assert "m=16,t=2,p=1" in hash_password("x" * 8)
    assert verify_password(h, "correct horse") is True


@pytest.mark.parametrize(
    ("pw", "problem"),
    [
        ("", "at least 8"),
        ("1234567", "at least 8"),
        ("12345678", None),
        ("\u00e9" * 8, None),
        ("x" * 256, None),
        ("x" * 257, "at most 256"),
        (" " * 8, "whitespace"),
        ("\t \n\u3000 \t  ", "whitespace"),
        (" pass word ", None),
    ],
)
def test_password_policy(pw: str, problem: str | None) -> None:
    result = password_problem(pw)
    assert result is None if problem is None else problem in result


# --- tokens -----------------------------------------------------------------------------------


def test_token_round_trip(tokens: TokenService) -> None:
    token, claims = tokens.issue("user-42")
    assert set(claims) == {"sub", "iat", "exp", "jti", "iss"}
    assert claims["sub"] == "user-42" and claims["iss"] == "workbench"
    assert claims["iat"] == int(T0) and claims["exp"] == int(T0) + 3600
    assert len(claims["jti"]) == 32 and int(claims["jti"], 16) >= 0
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert tokens.verify(token) == claims
    assert tokens.issue("user-42")[1]["jti"] != claims["jti"]


def test_issue_refuses_an_empty_user(tokens: TokenService) -> None:
    with pytest.raises(ValueError):
        tokens.issue("")


def test_short_secret_is_refused(clock: Clock) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        TokenService(b"x" * 31, revocations=MemoryRevocations(clock))


def test_expiry_uses_the_injected_clock_without_leeway(tokens: TokenService, clock: Clock) -> None:
    token, claims = tokens.issue("u")
    clock.t = claims["exp"] - 0.001
    assert tokens.verify(token)["sub"] == "u"
    clock.t = claims["exp"]
    assert refused(tokens, token) == "token expired"


def test_token_from_the_future_is_refused(tokens: TokenService, clock: Clock) -> None:
    token, _ = tokens.issue("u")
    clock.t -= 5
    assert refused(tokens, token) == "token issued in the future"


def test_nbf_is_honoured(tokens: TokenService) -> None:
    token = jwt.encode(claims_at(nbf=int(T0) + 10), SECRET, algorithm="HS256")
    assert refused(tokens, token) == "token not yet valid"


def test_forged_signatures_are_refused(tokens: TokenService) -> None:
    foreign = jwt.encode(claims_at(), OTHER_SECRET, algorithm="HS256")
    assert refused(tokens, foreign) == "invalid token signature"
    token, _ = tokens.issue("alice")
    header, _, signature = token.split(".")
    tampered = f"{header}.{b64(claims_at(sub='admin'))}.{signature}"
    assert refused(tokens, tampered) == "invalid token signature"
    assert refused(tokens, f"{header}.{token.split('.')[1]}.") == "invalid token signature"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_refused(tokens: TokenService, alg: str) -> None:
    token = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims_at())}."
    assert refused(tokens, token) == "token algorithm not allowed"


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_with_the_same_secret_are_refused(
    tokens: TokenService, alg: str
) -> None:
    token = jwt.encode(claims_at(), SECRET, algorithm=alg)
    assert refused(tokens, token) == "token algorithm not allowed"


def test_header_alg_is_checked_before_the_signature(tokens: TokenService) -> None:
    good, _ = tokens.issue("u")
    _, payload, signature = good.split(".")
    for alg in ["HS512", "hs256", "HS256 ", "", None]:
        header = b64({"alg": alg, "typ": "JWT"})
        assert refused(tokens, f"{header}.{payload}.{signature}") == "token algorithm not allowed"
    no_alg = b64({"typ": "JWT"})
    assert refused(tokens, f"{no_alg}.{payload}.{signature}") == "token algorithm not allowed"


def test_header_check_does_not_rely_on_the_library(
    tokens: TokenService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jwt, "decode", lambda *args, **kwargs: claims_at())
    token = jwt.encode(claims_at(), SECRET, algorithm="HS512")
    assert refused(tokens, token) == "token algorithm not allowed"


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "EdDSA"])
def test_asymmetric_headers_are_refused(tokens: TokenService, alg: str) -> None:
    token = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims_at())}.{b64(os.urandom(256))}"
    assert refused(tokens, token) == "token algorithm not allowed"


def test_rs256_token_signed_with_a_real_rsa_key_is_refused(tokens: TokenService) -> None:
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims_at(), key, algorithm="RS256")
    assert refused(tokens, token) == "token algorithm not allowed"


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "jti", "iss"])
def test_missing_claims_are_refused(tokens: TokenService, claim: str) -> None:
    token = jwt.encode(claims_at(**{claim: None}), SECRET, algorithm="HS256")
    assert refused(tokens, token) == f"token lacks the {claim!r} claim"


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": "2100-01-01"},
        {"exp": float(T0 + 60)},
        {"iat": True},
        {"sub": 42},
        {"sub": ""},
        {"jti": ["a"]},
        {"nbf": "now"},
    ],
)
def test_mistyped_claims_are_refused(tokens: TokenService, overrides: dict) -> None:
    token = jwt.encode(claims_at(**overrides), SECRET, algorithm="HS256")
    assert refused(tokens, token) in {"malformed token claims", "invalid token"}


def test_wrong_issuer_is_refused(tokens: TokenService) -> None:
    token = jwt.encode(claims_at(iss="someone-else"), SECRET, algorithm="HS256")
    assert refused(tokens, token) == "token issuer not accepted"


def test_revoked_token_is_refused_until_it_expires(clock: Clock) -> None:
    store = MemoryRevocations(clock)
    tokens = TokenService(SECRET, ttl_s=60, revocations=store, clock=clock)
    token, claims = tokens.issue("u")
    other, _ = tokens.issue("u")
    tokens.revoke(claims)
    assert refused(tokens, token) == "token revoked"
    assert tokens.verify(other)["sub"] == "u"
    assert len(store) == 1
    clock.t = claims["exp"]
    assert refused(tokens, token) == "token expired"
    assert len(store) == 0  # pruned once the token could no longer be used anyway


def test_memory_revocations_ignore_dead_tokens_and_keep_the_latest_expiry(clock: Clock) -> None:
    store = MemoryRevocations(clock)
    store.revoke("dead", int(T0))
    assert not store.is_revoked("dead") and len(store) == 0
    store.revoke("j", int(T0) + 10)
    store.revoke("j", int(T0) + 20)
    store.revoke("j", int(T0) + 5)
    clock.t = T0 + 15
    assert store.is_revoked("j")
    clock.t = T0 + 20
    assert not store.is_revoked("j")


GARBAGE = [
    "",
    ".",
    "..",
    "...",
    "a.b.c",
    "a.b.c.d",
    "Bearer x.y.z",
    " " * 10,
    "x" * 1_000_000,
    "\u00e9\u00e8.\u4e2d\u6587.\U0001f600",
    "\ud800.\udfff.x",
    "\x00.\x00.\x00",
    "eyJ.eyJ.",
    f"{b64(b'null')}.{b64(b'null')}.",
    f"{b64(b'[]')}.{b64(claims_at())}.",
    f"{b64({'alg': 'HS256'})}.{b64(b'[1, 2]')}.abc",
    f"{b64({'alg': 'HS256'})}.{b64(b'{bad json')}.abc",
    f"{b64({'alg': 'HS256'})}.{b64(bytes(range(256)))}.abc",
    f"{b64(b'[' * 5000 + b']' * 5000)}.{b64(claims_at())}.",
    f"{b64({'alg': 'HS256'})}.{b64(b'[' * 5000 + b']' * 5000)}.",
    f"{b64({'alg': 'HS256', 'b64': False})}.{b64(claims_at())}.x",
    f"{b64({'alg': 'HS256', 'crit': ['exp']})}.{b64(claims_at())}.x",
    f"{b64({'alg': 'HS256'})}.{b64(b'1' * 5000)}.",
]


@pytest.mark.parametrize("token", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_raises_only_auth_error(tokens: TokenService, token: str) -> None:
    assert refused(tokens, token)


@pytest.mark.parametrize("token", [None, b"a.b.c", 42, ["a", "b", "c"]])
def test_non_strings_raise_only_auth_error(tokens: TokenService, token: object) -> None:
    assert refused(tokens, token) == "malformed token"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_fuzz_text_raises_only_auth_error(token: str) -> None:
    clock = Clock()
    service = TokenService(SECRET, revocations=MemoryRevocations(clock), clock=clock)
    assert refused(service, token)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=5))
def test_fuzz_base64_segments_raise_only_auth_error(segments: list[bytes]) -> None:
    clock = Clock()
    service = TokenService(SECRET, revocations=MemoryRevocations(clock), clock=clock)
    assert refused(service, ".".join(b64(s) for s in segments))


# --- rate limiting ----------------------------------------------------------------------------


def test_limiter_allows_up_to_the_limit_then_tells_how_long_to_wait(clock: Clock) -> None:
    limiter = RateLimiter(3, 10.0, clock=clock)
    assert [limiter.hit("k") for _ in range(3)] == [0, 0, 0]
    assert limiter.hit("k") == pytest.approx(10.0)
    clock.t += 4
    assert limiter.hit("k") == pytest.approx(6.0)  # refused attempts do not extend the wait
    assert limiter.retry_after("k") == pytest.approx(6.0)
    clock.t += 6
    assert limiter.hit("k") == 0
    assert limiter.hit("k") == 0 and limiter.hit("k") == 0
    assert limiter.hit("k") > 0


def test_limiter_window_slides(clock: Clock) -> None:
    limiter = RateLimiter(2, 10.0, clock=clock)
    assert limiter.hit("k") == 0
    clock.t += 5
    assert limiter.hit("k") == 0
    clock.t += 5  # the first attempt leaves the window, the second stays for 5 s more
    assert limiter.hit("k") == 0
    assert limiter.hit("k") == pytest.approx(5.0)


def test_limiter_keys_are_independent_and_reset(clock: Clock) -> None:
    limiter = RateLimiter(1, 60.0, clock=clock)
    assert limiter.hit("a") == 0
    assert limiter.hit("a") > 0
    assert limiter.hit("b") == 0
    limiter.reset("a")
    assert limiter.hit("a") == 0
    assert limiter.hit("b") > 0


def test_limiter_memory_is_bounded(clock: Clock) -> None:
    limiter = RateLimiter(1, 60.0, clock=clock, max_keys=100)
    for i in range(1000):
        limiter.hit(f"k{i}")
    assert len(limiter) == 100
    assert limiter.hit("k999") > 0  # the newest are kept
    assert limiter.hit("k0") == 0  # the oldest were dropped
    clock.t += 60
    limiter.hit("fresh")
    assert len(limiter) == 1  # keys with nothing left in the window are pruned
    assert RateLimiter(1, 1.0).max_keys == 100_000


def test_limiter_rejects_nonsense_parameters() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, 1.0)
    with pytest.raises(ValueError):
        RateLimiter(1, 0)


def test_login_throttle_is_not_an_oracle(clock: Clock) -> None:
    throttle = LoginThrottle(per_email=(5, 300.0), per_client=(1000, 60.0), clock=clock)
    for _ in range(5):
        assert throttle.check("alice@example.com", "10.0.0.1") == 0
        throttle.failed("alice@example.com", "10.0.0.1")
    # the sixth attempt is refused before the password is looked at, right or wrong,
    # from any client and however the address is spelled
    assert throttle.check("alice@example.com", "10.0.0.1") == pytest.approx(300.0)
    assert throttle.check(" Alice@Example.COM", "10.0.0.2") == pytest.approx(300.0)
    assert throttle.check("bob@example.com", "10.0.0.1") == 0
    clock.t += 299
    assert throttle.check("alice@example.com", "10.0.0.1") == pytest.approx(1.0)
    clock.t += 1
    assert throttle.check("alice@example.com", "10.0.0.1") == 0


def test_login_success_clears_the_email_failures(clock: Clock) -> None:
    throttle = LoginThrottle(per_email=(3, 300.0), clock=clock)
    for _ in range(2):
        assert throttle.check("a@x.io", "c") == 0
        throttle.failed("a@x.io", "c")
    assert throttle.check("a@x.io", "c") == 0
    throttle.succeeded("A@x.io", "c")
    assert [throttle.check("a@x.io", "c") for _ in range(4)][:3] == [0, 0, 0]
    assert throttle.check("a@x.io", "c") > 0


def test_login_throttle_limits_each_client_across_emails(clock: Clock) -> None:
    throttle = LoginThrottle(per_email=(5, 300.0), per_client=(30, 60.0), clock=clock)
    assert all(throttle.check(f"user{i}@x.io", "evil") == 0 for i in range(30))
    assert throttle.check("user99@x.io", "evil") == pytest.approx(60.0)
    assert throttle.check("user99@x.io", "honest") == 0
    clock.t += 60
    assert throttle.check("user99@x.io", "evil") == 0
