"""Settings: defaults, the environment, and failing fast on bad values."""

import pytest
from pydantic import ValidationError

from service.settings import Settings


def test_defaults_match_the_documented_ones() -> None:
    settings = Settings(auth="none")
    assert settings.upstream_max_attempts == 3
    assert settings.upstream_timeout_seconds == 5
    assert (settings.cache_ttl_seconds, settings.cache_terminal_ttl_seconds) == (5, 60)
    assert (settings.cache_negative_ttl_seconds, settings.cache_max_entries) == (5, 10_000)


def test_values_come_from_gateway_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_UPSTREAM_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("GATEWAY_CACHE_MAX_ENTRIES", "500")
    settings = Settings(auth="none")
    assert (settings.upstream_timeout_seconds, settings.cache_max_entries) == (2.5, 500)


def test_aws_region_alone_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert Settings(auth="none").aws_region == "eu-west-1"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GATEWAY_UPSTREAM_MAX_ATTEMPTS", "0"),
        ("GATEWAY_UPSTREAM_TIMEOUT_SECONDS", "-1"),
        ("GATEWAY_CACHE_TTL_SECONDS", "soon"),
        ("GATEWAY_CACHE_MAX_ENTRIES", "0"),
        ("GATEWAY_PORT", "70000"),
    ],
)
def test_bad_values_fail_at_start_up(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()
