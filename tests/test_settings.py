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
    ("variable", "bad", "good"),
    [
        ("GATEWAY_UPSTREAM_MAX_ATTEMPTS", "0", "1"),
        ("GATEWAY_UPSTREAM_TIMEOUT_SECONDS", "-1", "0.5"),
        ("GATEWAY_CACHE_TTL_SECONDS", "soon", "0"),
        ("GATEWAY_CACHE_MAX_ENTRIES", "0", "1"),
        ("GATEWAY_PORT", "70000", "65535"),
    ],
)
def test_a_bad_value_fails_at_start_up_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, bad: str, good: str
) -> None:
    monkeypatch.setenv(variable, good)
    Settings(auth="none")  # the rest of the settings are fine: only the value differs
    monkeypatch.setenv(variable, bad)
    with pytest.raises(ValidationError) as refused:
        Settings(auth="none")
    field = variable.removeprefix("GATEWAY_").lower()
    assert [error["loc"] for error in refused.value.errors()] == [(field,)]
