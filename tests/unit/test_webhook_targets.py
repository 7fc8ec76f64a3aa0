"""A webhook is delivered to the address its URL was checked at (no DNS rebinding)."""

from __future__ import annotations

import asyncio

import pytest

from recommendation_engine.service.webhooks import REFUSED, Target, TargetRefused, check_target


def test_a_checked_target_is_called_at_the_checked_address_under_its_own_name() -> None:
    target = Target("https://hooks.example.com:8443/in?x=1", "93.184.215.14")
    assert target.request_url() == "https://93.184.215.14:8443/in?x=1"
    assert target.host_header() == "hooks.example.com:8443"
    assert target.tls_name() == "hooks.example.com"  # the certificate is checked for it


def test_an_ipv6_address_is_bracketed_and_plain_http_needs_no_tls_name() -> None:
    target = Target("http://hooks.example.com/in", "2606:2800:220:1::1")
    assert target.request_url() == "http://[2606:2800:220:1::1]/in"
    assert target.host_header() == "hooks.example.com"
    assert target.tls_name() is None


def test_with_private_targets_allowed_the_url_is_called_as_it_is() -> None:
    target = asyncio.run(check_target("http://localhost:9000/in", allow_private=True))
    assert target.request_url() == "http://localhost:9000/in"
    assert target.host_header() is None and target.tls_name() is None


@pytest.mark.parametrize(
    "url", ["http://localhost/in", "http://no-such-host.invalid/in", "ftp://example.com/"]
)
def test_every_refusal_says_the_same(url: str) -> None:
    with pytest.raises(TargetRefused) as refused:
        asyncio.run(check_target(url, allow_private=False))
    assert str(refused.value) == REFUSED


def test_a_literal_public_address_is_its_own_checked_address() -> None:
    target = asyncio.run(check_target("https://93.184.215.14/hook", allow_private=False))
    assert target.address == "93.184.215.14"
    assert target.request_url() == "https://93.184.215.14/hook"
