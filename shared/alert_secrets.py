"""Secrets in ``global_config.alerts``: shown masked, and a masked one sent back keeps the stored one.

A webhook's ``secret`` shows as ``***`` and its URL as an RTSP URL does (password
and token parameters masked); a ``notify`` URL (Apprise: tokens anywhere in it)
as its scheme only, ``dingtalk://***``. A client that reads the config and sends
it back gets each stored value back: a webhook by its masked URL, a notify URL by
its masked form and its place among those that look the same.
"""
from __future__ import annotations

import copy

from shared.errors import ConfigError
from shared.urls import MASK, is_masked, mask_credentials, unmask

_NO_STORED = "含有隐藏的密钥 (***), 但找不到已保存的值; 请填写完整"


def shown_notify(url: str) -> str:
    """A notify URL as shown: its scheme and the mask."""
    return f"{url.partition('://')[0]}://{MASK}"


def masked_alerts(alerts: dict) -> dict:
    """A copy of ``alerts`` fit to show."""
    shown = copy.deepcopy(alerts)
    for hook in shown.get("webhooks", ()):
        hook["url"] = mask_credentials(hook["url"])
        if "secret" in hook:
            hook["secret"] = MASK
    if "notify" in shown:
        shown["notify"] = [shown_notify(url) for url in shown["notify"]]
    return shown


def has_masked_alerts(alerts: dict) -> bool:
    """True when ``alerts`` carries a masked value (a client sent back what it read)."""
    return (any(is_masked(h["url"]) or h.get("secret") == MASK for h in alerts.get("webhooks", ()))
            or any(url == shown_notify(url) for url in alerts.get("notify", ())))


def with_stored_alerts(alerts: dict, stored: dict, field: str) -> dict:
    """``alerts`` with each masked value taken from ``stored``. :raises ConfigError:"""
    result = copy.deepcopy(alerts)
    old_hooks = stored.get("webhooks", [])
    for i, hook in enumerate(result.get("webhooks", ())):
        old = next((h for h in old_hooks if mask_credentials(h["url"]) ==
                    mask_credentials(hook["url"])), None)
        if is_masked(hook["url"]):
            hook["url"] = unmask(hook["url"], old["url"]) if old else None
            if hook["url"] is None:
                raise ConfigError(f"{field}.webhooks[{i}].url", _NO_STORED)
        if hook.get("secret") == MASK:
            if old is None or "secret" not in old:
                raise ConfigError(f"{field}.webhooks[{i}].secret", _NO_STORED)
            hook["secret"] = old["secret"]
    seen: dict[str, int] = {}
    for i, url in enumerate(result.get("notify", ())):
        if url != shown_notify(url):
            continue
        same = [old for old in stored.get("notify", []) if shown_notify(old) == url]
        nth = seen[url] = seen.get(url, -1) + 1
        if nth >= len(same):
            raise ConfigError(f"{field}.notify[{i}]", _NO_STORED)
        result["notify"][i] = same[nth]
    return result
