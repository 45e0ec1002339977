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
    # What redis-py would refuse only when it first connects, or read as database 0.
    ({"redis_url": "redis://h:70000"}, "cluster.redis_url"),
    ({"redis_url": "redis://h:abc"}, "cluster.redis_url"),
    ({"redis_url": "redis://h?socket_timeout=x"}, "cluster.redis_url"),
    ({"redis_url": "redis://[fd00::5:6379"}, "cluster.redis_url"),
    ({"redis_url": "redis://h/abc"}, "cluster.redis_url"),
    ({"redis_url": "unix://"}, "cluster.redis_url"),
    ({"redis_url": "unix://tmp/r.sock"}, "cluster.redis_url"),
    ({"redis_url": "redis://h/0?unknown=1"}, "cluster.redis_url"),
    ({"redis_url": "redis://h/0?ssl_cert_reqs=none"}, "cluster.redis_url"),  # a TLS option
    ({"redis_url": "redis://h", "queue": "a b"}, "cluster.queue"),
    ({"redis_url": "redis://h", "queue": 5}, "cluster.queue"),
    ({"redis_url": "redis://h", "qeue": "x"}, "cluster.qeue")])
def test_a_bad_section_is_refused(section: object, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        model.validate_config(with_cluster(section))
    assert caught.value.field == field


@pytest.mark.parametrize("url", ["redis://h/", "redis://h/3", "redis://[::1]:6379/1",
                                 "rediss://h", "rediss://u:p@h/0?ssl_cert_reqs=none",
                                 "unix:///run/redis/redis.sock?db=2"])
def test_redis_url_forms_redis_py_takes_are_taken(url: str) -> None:
    assert model.validate_config(with_cluster({"redis_url": url}))["cluster"]["redis_url"] == url


def test_a_refused_redis_url_does_not_show_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        model.validate_config(with_cluster({"redis_url": "redis://:s3cret@h:99999/0"}))
    assert caught.value.field == "cluster.redis_url" and "s3cret" not in str(caught.value)


def test_the_redis_password_is_masked_and_kept_when_sent_back() -> None:
    stored = model.validate_config(with_cluster({"redis_url": "redis://:s3cret@10.0.0.9:6379/0"}))
    shown = masked_config(stored)
    assert shown["cluster"]["redis_url"] == "redis://:***@10.0.0.9:6379/0"
    assert "s3cret" not in str(shown)
    again = with_stored_secrets(model.validate_config(shown), stored)
    assert again["cluster"]["redis_url"] == "redis://:s3cret@10.0.0.9:6379/0"
