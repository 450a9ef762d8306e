"""The one outbound URL policy, and the three places in the kernel that apply it."""

from __future__ import annotations

import pytest

from emulator.core.errors import ConfigError
from emulator.core.httpclient import HttpClient, HttpError
from emulator.core.outbound import check_http_url
from emulator.core.settings import Settings


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "https://hooks.example.com/a?b=c",
        "http://[::1]:8080/x",
        "HTTP://Example.COM",
        "http://localhost:0/",
        "http://localhost:65535/",
    ],
    ids=["ip-port", "https-query", "ipv6", "upper-case", "port-0", "port-max"],
)
def test_requestable_urls_pass(url: str) -> None:
    assert check_http_url(url) is None


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://example.com/x", "not an http(s) URL: 'ftp://example.com/x'"),
        ("mailto:ops@example.com", "not an http(s) URL: 'mailto:ops@example.com'"),
        ("example.com/hook", "not an http(s) URL: 'example.com/hook'"),
        ("http://", "not an http(s) URL: 'http://'"),
        ("http:///no-host", "not an http(s) URL: 'http:///no-host'"),
        ("http://:80/no-host", "not an http(s) URL: 'http://:80/no-host'"),
        ("http://[::1/x", "not a valid URL: 'http://[::1/x' (Invalid IPv6 URL)"),
        ("http://h:99999/x", "not a valid URL: 'http://h:99999/x' (Port out of range 0-65535)"),
        ("http://h:port/x", "not a valid URL: 'http://h:port/x' (Port could not be cast to integer value as 'port')"),
    ],
    ids=["ftp", "mailto", "no-scheme", "scheme-only", "no-host", "port-only", "ipv6-bracket", "port-range", "port-nan"],
)
def test_urls_that_cannot_be_requested_say_why(url: str, error: str) -> None:
    assert check_http_url(url) == error
    assert check_http_url(url, ["h", "example.com"]) == error  # an allow-list never makes a bad URL good


@pytest.mark.parametrize(
    ("url", "allow", "error"),
    [
        ("http://hooks.example.com/x", ["hooks.example.com"], None),
        ("http://HOOKS.example.com:8443/x", ("hooks.example.com",), None),
        ("http://[::1]:9/x", frozenset({"::1"}), None),
        ("http://127.0.0.1:9/x", ["hooks.example.com"], "host '127.0.0.1' is not in the webhook allow-list"),
        ("http://evil.example.com/x", [], "host 'evil.example.com' is not in the webhook allow-list"),
        (
            "http://hooks.example.com.evil.net/",
            ["hooks.example.com"],
            "host 'hooks.example.com.evil.net' is not in the webhook allow-list",
        ),
    ],
    ids=["listed", "case-and-port", "ipv6-listed", "not-listed", "empty-list-allows-nothing", "suffix-trick"],
)
def test_the_allow_list_admits_exact_host_names_only(
    url: str, allow: list[str] | tuple[str, ...] | frozenset[str], error: str | None
) -> None:
    assert check_http_url(url, allow) == error


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://", "--webhook-url: not an http(s) URL: 'http://'"),
        ("http://[::1/hook", "--webhook-url: not a valid URL: 'http://[::1/hook' (Invalid IPv6 URL)"),
    ],
    ids=["no-host", "ipv6-bracket"],
)
def test_the_default_webhook_url_setting_follows_the_policy(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load({}, {"webhook_url": value})
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:1/a b", "not a valid URL: 'http://127.0.0.1:1/a b' (a space or control character)"),
        ("http://127.0.0.1:1/a\r\nX-Evil: 1", "(a space or control character)"),
        ("http://127.0.0.1:99999/", "not a valid URL: 'http://127.0.0.1:99999/' (Port out of range 0-65535)"),
    ],
    ids=["space", "header-injection", "port-range"],
)
async def test_the_client_refuses_urls_it_cannot_write_into_a_request_line(url: str, message: str) -> None:
    client = HttpClient()
    try:
        with pytest.raises(HttpError) as info:
            await client.post(url, b"{}", {}, 5)
        assert message in str(info.value)
    finally:
        await client.close()
