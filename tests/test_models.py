"""The domain models: AWS's shapes, open to values AWS adds later, kept as their JSON."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from service.freshness import entity_tag
from service.models import DeploymentInfo, InstanceSummary, InstanceTarget
from service.moments import parse_moment, wire_time
from service.snapshot import Snapshot


def test_a_status_aws_adds_later_passes_through() -> None:
    summary = InstanceSummary.model_validate({"instanceId": "i-1", "status": "Hibernating"})
    assert summary.status == "Hibernating"
    assert not summary.is_terminal


def test_a_field_the_gateway_does_not_type_passes_through() -> None:
    info = DeploymentInfo.model_validate({"deploymentId": "d-1", "newField": {"a": 1}})
    assert b'"newField":{"a":1}' in Snapshot(info).body


def test_timestamps_are_utc_whatever_zone_they_came_in() -> None:
    local = datetime(2026, 11, 24, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    summary = InstanceSummary(instance_id="i-1", last_updated_at=local)
    assert summary.last_updated_at == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert wire_time(local) == "2026-11-24T10:00:00Z"


def test_a_target_reads_as_an_instance() -> None:
    target = InstanceTarget(target_id="i-1", deployment_id="d-1", status="Failed")
    summary = InstanceSummary.from_target(target)
    assert (summary.instance_id, summary.deployment_id, summary.status) == ("i-1", "d-1", "Failed")


def test_a_snapshot_is_its_json_named_by_its_etag() -> None:
    snapshot = Snapshot(InstanceSummary(instance_id="i-1", status="Succeeded"))
    assert snapshot.etag == entity_tag(snapshot.body)
    assert snapshot.terminal
    assert snapshot.model == InstanceSummary(instance_id="i-1", status="Succeeded")


@pytest.mark.parametrize("given", ["2026-11-01", "2026-11-01T00:00:00", "1700000000", ""])
def test_a_moment_needs_a_date_a_time_and_an_offset(given: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_moment(given)


def test_a_moment_with_its_offset_is_taken() -> None:
    assert parse_moment("2026-11-01t02:00:00+02:00") == datetime(2026, 11, 1, tzinfo=UTC)
