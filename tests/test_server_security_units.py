"""Unit tests of the server's security rules: client addresses through trusted proxies, own
origins, the cross-site guard's decisions, rate-limit settings, and the input rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from server.config import ServerConfig, parse_limit, register_limit_from_env
from server.csrf import refusal
from server.errors import sentence
from server.jsonbody import to_exact
from server.peers import client_address, own_origins, parse_proxies
from server.schemas import RegisterIn, TradeIn


def scope(peer: str = "127.0.0.1", method: str = "POST", **headers: str) -> dict[str, Any]:
    return {
        "type": "http", "method": method, "scheme": "http", "client": (peer, 50000),
        "headers": [(k.replace("_", "-").lower().encode(), v.encode())
                    for k, v in headers.items()],
    }  # fmt: skip


def config(*proxies: str, cors: tuple[str, ...] = ()) -> ServerConfig:
    return ServerConfig(trusted_proxies=proxies, cors_origins=cors)


@pytest.mark.parametrize(
    ("proxies", "peer", "xff", "client"),
    [
        ((), "127.0.0.1", "6.6.6.6", "127.0.0.1"),  # no trusted proxy: the header is ignored
        (("10.0.0.1",), "127.0.0.1", "6.6.6.6", "127.0.0.1"),  # the peer is not the proxy
        (("127.0.0.1",), "127.0.0.1", "6.6.6.6", "6.6.6.6"),
        (("127.0.0.1",), "127.0.0.1", "1.1.1.1, 2.2.2.2", "2.2.2.2"),  # right-most
        (("127.0.0.1", "10.0.0.0/8"), "127.0.0.1", "1.1.1.1, 2.2.2.2, 10.3.4.5", "2.2.2.2"),
        (("127.0.0.1", "10.0.0.0/8"), "127.0.0.1", "10.1.1.1, 10.2.2.2", "10.1.1.1"),  # all ours
        (("127.0.0.1",), "127.0.0.1", "", "127.0.0.1"),  # no header: the proxy itself
        (("127.0.0.1",), "127.0.0.1", "junk", "127.0.0.1"),  # not an address
        (("127.0.0.1",), "127.0.0.1", "1.1.1.1, junk", "127.0.0.1"),
        (("127.0.0.1",), "127.0.0.1", "5.5.5.5:4711", "5.5.5.5"),  # with a port
        (("127.0.0.1",), "127.0.0.1", "[2001:db8::1]:80", "2001:db8::1"),
        (("::1",), "::1", "2001:db8::2", "2001:db8::2"),
        (("127.0.0.1",), "::ffff:127.0.0.1", "7.7.7.7", "7.7.7.7"),  # IPv4-mapped peer
    ],
)
def test_client_address(proxies: tuple[str, ...], peer: str, xff: str, client: str) -> None:
    headers = {"x_forwarded_for": xff} if xff else {}
    assert client_address(scope(peer, **headers), config(*proxies)) == client


def test_several_forwarded_for_headers_are_one_list() -> None:
    s = scope()
    s["headers"] += [(b"x-forwarded-for", b"1.1.1.1"), (b"x-forwarded-for", b"2.2.2.2")]
    assert client_address(s, config("127.0.0.1")) == "2.2.2.2"
    assert client_address({"type": "http", "headers": []}, config("127.0.0.1")) == "unknown"


def test_trusted_proxies_are_checked_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert [str(n) for n in parse_proxies(["127.0.0.1", "10.0.0.0/8", "::1"])] == [
        "127.0.0.1/32", "10.0.0.0/8", "::1/128"]  # fmt: skip
    with pytest.raises(ValueError, match="'proxy.example' is not an IP address or network"):
        parse_proxies(["proxy.example"])
    monkeypatch.setenv("WORKBENCH_TRUSTED_PROXIES", " 10.0.0.1, 10.0.0.2 ,")
    assert ServerConfig().trusted_proxies == ("10.0.0.1", "10.0.0.2")


def test_register_limit_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKBENCH_REGISTER_LIMIT", raising=False)
    assert register_limit_from_env() == (10, 600.0)
    monkeypatch.setenv("WORKBENCH_REGISTER_LIMIT", "3/60")
    assert register_limit_from_env() == (3, 60.0)
    for bad in ("10", "0/60", "10/0", "x/60", "١٠/60", "10/-1"):
        with pytest.raises(ValueError, match="ATTEMPTS/SECONDS"):
            parse_limit(bad)
    monkeypatch.setenv("WORKBENCH_REGISTER_LIMIT", "lots")
    with pytest.raises(ValueError, match="WORKBENCH_REGISTER_LIMIT"):
        register_limit_from_env()


def test_own_origins() -> None:
    plain = scope(host="127.0.0.1:8000", x_forwarded_host="evil.example")
    assert own_origins(plain, config()) == {"http://127.0.0.1:8000"}  # untrusted: ignored
    proxied = scope(host="10.0.0.5:8000", x_forwarded_host="Trade.Example",
                    x_forwarded_proto="https")  # fmt: skip
    assert own_origins(proxied, config("127.0.0.1", cors=("https://app.example/",))) == {
        "http://10.0.0.5:8000", "https://trade.example", "https://app.example"}  # fmt: skip


GUARD = config(cors=("https://app.example",))
COOKIE = {"host": "127.0.0.1:8000", "cookie": "token=abc"}


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("GET", {"origin": "http://127.0.0.1:9999"}, None),  # reads change nothing
        ("POST", {"origin": "http://127.0.0.1:9999"}, 403),  # another port: another origin
        ("POST", {"origin": "null"}, 403),
        ("POST", {"origin": "http://127.0.0.1:8000.evil.example"}, 403),
        ("POST", {"referer": "http://127.0.0.1:9999/page"}, 403),
        ("POST", {"referer": "about:blank"}, 403),
        ("DELETE", {"origin": "http://127.0.0.1:9999"}, 403),
        ("POST", {"origin": "http://127.0.0.1:8000"}, None),
        ("POST", {"referer": "http://127.0.0.1:8000/docs"}, None),
        ("POST", {"origin": "https://app.example"}, None),
        ("POST", {"origin": "http://127.0.0.1:9999", "authorization": "Bearer t"}, None),
        ("POST", {"origin": "http://127.0.0.1:9999", "authorization": "Basic t"}, 403),
        ("POST", {}, None),  # no Origin, no Referer: not a browser
        ("POST", {"content_type": "text/plain"}, 415),
        ("POST", {"content_type": "application/x-www-form-urlencoded"}, 415),
        ("POST", {"content_type": "application/json; charset=utf-8"}, None),
        ("POST", {"content_type": "application/merge-patch+json"}, None),
    ],
)
def test_cross_site_guard(method: str, headers: dict[str, str], status: int | None) -> None:
    got = refusal(scope(method=method, **{**COOKIE, **headers}), GUARD)
    assert (got[0] if got else None) == status, got


def test_a_form_body_without_the_cookie_is_left_to_the_route() -> None:
    assert refusal(scope(host="127.0.0.1:8000", content_type="text/plain"), GUARD) is None


def test_validation_errors_read_as_sentences() -> None:
    assert sentence("name", "Field required", "missing") == "name is required"
    assert sentence("side", "Input should be 'long' or 'short'", "literal_error") == (
        "side should be 'long' or 'short'")  # fmt: skip
    assert sentence("stopLoss", "Value error, must be above 0", "value_error") == (
        "stopLoss must be above 0")  # fmt: skip
    assert sentence("body", "JSON decode error", "json_invalid") == "body: JSON decode error"


def _register_error(**kw: Any) -> str:
    body = {"name": "Ann", "email": "ann@example.com", "password": "correct horse 1", **kw}
    with pytest.raises(ValidationError) as e:
        RegisterIn(**body)
    return str(e.value.errors()[0]["msg"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", " \t ", "must not be empty"),
        ("name", "\u3000", "must not be empty"),  # an ideographic space
        ("name", "A\x00", "must not contain control characters (U+0000)"),
        ("name", "A\x1b[31m", "must not contain control characters (U+001B)"),
        ("name", "A\u202eB", "must not contain control characters (U+202E)"),
        ("name", "A\u2028B", "must not contain control characters (U+2028)"),
        ("name", "x" * 101, "must be at most 100 characters"),
        ("name", 5, "must be text"),
        ("email", "a\x00@example.com", "must not contain control characters (U+0000)"),
        ("email", "example.com", "must look like name@example.com"),
        ("email", "@example.com", "must look like name@example.com"),
        ("email", "a@b@example.com", "must look like name@example.com"),
        ("email", "a b@example.com", "must look like name@example.com"),
    ],
)
def test_names_and_emails(field: str, value: Any, message: str) -> None:
    assert _register_error(**{field: value}) == message


def test_names_and_emails_are_trimmed() -> None:
    r = RegisterIn(name="  Zoë O'Neil \n", email=" Zoe@Example.COM ", password="p" * 8)
    assert (r.name, r.email) == ("Zoë O'Neil", "zoe@example.com")
    assert RegisterIn(name="می\u200cخواهم", email="a@b.c", password="p" * 8).name  # ZWNJ is text


@pytest.mark.parametrize("text", ["١٠٠", "۱۰۰", "１００", "1٠", "᭑", "\u2003 1"])
def test_decimals_are_ascii_digits_only(text: str) -> None:
    with pytest.raises(ValueError, match="must be a decimal number"):
        to_exact(text)


def test_ascii_decimals_still_parse() -> None:
    assert to_exact(" 61837.63\n") == Decimal("61837.63") and to_exact("-.5") == Decimal("-0.5")


@pytest.mark.parametrize("field", ["takeProfit", "stopLoss"])
@pytest.mark.parametrize("value", ["-5", "0", 0, "-0.0000001"])
def test_trigger_prices_must_be_above_zero(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match="must be above 0"):
        TradeIn(asset="BTC", side="long", leverage="2", margin="10", **{field: value})
    assert TradeIn(asset="BTC", side="long", leverage="2", margin="10", **{field: "0.01"})
