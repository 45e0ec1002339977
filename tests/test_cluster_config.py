"""The optional top-level cluster section: validated, its Redis password masked, unmasked on write."""
from __future__ import annotations

import pytest

from shared import config as model
from shared.cluster_config import cluster_settings
from shared.credentials import masked_config, with_stored_secrets
from shared.errors import ConfigError
from tests.helpers import valid_config


def with_cluster(section: object) -> dict:
    return {**valid_config(), "cluster": section}


def test_without_the_section_nothing_changes() -> None:
    checked = model.validate_config(valid_config())
    assert "cluster" not in checked and cluster_settings(checked) is None


def test_the_section_is_checked_and_read() -> None:
    checked = model.validate_config(with_cluster({"redis_url": "redis://127.0.0.1:6379/0"}))
    assert checked["cluster"] == {"redis_url": "redis://127.0.0.1:6379/0"}
    assert cluster_settings(checked).queue == "patrol"
    assert model.validate_config(checked) == checked


@pytest.mark.parametrize("section,field", [
    ([], "cluster"), ({}, "cluster.redis_url"), ({"redis_url": "http://x"}, "cluster.redis_url"),
    ({"redis_url": "redis://"}, "cluster.redis_url"),
    ({"redis_url": "redis://h", "queue": "a b"}, "cluster.queue"),
    ({"redis_url": "redis://h", "queue": 5}, "cluster.queue"),
    ({"redis_url": "redis://h", "qeue": "x"}, "cluster.qeue")])
def test_a_bad_section_is_refused(section: object, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        model.validate_config(with_cluster(section))
    assert caught.value.field == field


def test_the_redis_password_is_masked_and_kept_when_sent_back() -> None:
    stored = model.validate_config(with_cluster({"redis_url": "redis://:s3cret@10.0.0.9:6379/0"}))
    shown = masked_config(stored)
    assert shown["cluster"]["redis_url"] == "redis://:***@10.0.0.9:6379/0"
    assert "s3cret" not in str(shown)
    again = with_stored_secrets(model.validate_config(shown), stored)
    assert again["cluster"]["redis_url"] == "redis://:s3cret@10.0.0.9:6379/0"
