"""Secrets in ``global_config.alerts``: shown masked, and a masked one sent back keeps the stored one.

A webhook's ``secret`` shows as ``***`` and its URL with its password, every
query parameter's value (``?access_token=***``: a service may take its token under
any name) and each path segment that looks like a token (``…/hook/***``) masked; a ``notify`` URL (Apprise: tokens anywhere in it) as its
scheme only, ``dingtalk://***``. A client that reads the config and sends it back
gets each stored value back: a webhook by its masked URL (so only for the same
host, path and parameter names), a notify URL by its masked form; either by its
place among those that look the same.
"""
from __future__ import annotations

import copy
import re

from shared.errors import ConfigError
from shared.urls import MASK, is_masked, mask_credentials, unmask

_NO_STORED = "含有隐藏的密钥 (***), 但找不到已保存的值; 请填写完整"


def shown_notify(url: str) -> str:
    """A notify URL as shown: its scheme and the mask."""
    return f"{url.partition('://')[0]}://{MASK}"


# A path segment that looks like a token: a webhook service may put its key in the path
# (Feishu's .../hook/<uuid>, Slack's /services/T…/B…/<key>, Discord's): 16 characters or more,
# letters and digits both. A long plain name (/patrol-hook) stays as it is.
_PATH_TOKEN_RE = re.compile(r"(?<=/)(?=[^/?#]*\d)(?=[^/?#]*[A-Za-z])[^/?#]{16,}(?=[/?#]|$)")


def masked_path(path: str) -> str:
    """``path`` with each segment that looks like a token masked (shown and logged alike)."""
    return _PATH_TOKEN_RE.sub(MASK, path)


def shown_webhook(url: str) -> str:
    """A webhook URL as shown: its password, each query parameter's value and each path
    segment that looks like a token masked."""
    shown = mask_credentials(url, every_query_value=True)
    head, slash, rest = shown.partition("://")
    host, sep, tail = rest.partition("/")
    return head + slash + host + sep + masked_path(tail) if sep else shown


def _has_masked_path(url: str) -> bool:
    tail = url.partition("://")[2].partition("/")[2].split("?")[0].split("#")[0]
    return MASK in tail.split("/")


def masked_alerts(alerts: dict) -> dict:
    """A copy of ``alerts`` fit to show."""
    shown = copy.deepcopy(alerts)
    for hook in shown.get("webhooks", ()):
        hook["url"] = shown_webhook(hook["url"])
        if "secret" in hook:
            hook["secret"] = MASK
    if "notify" in shown:
        shown["notify"] = [shown_notify(url) for url in shown["notify"]]
    return shown


def has_masked_alerts(alerts: dict) -> bool:
    """True when ``alerts`` carries a masked value (a client sent back what it read)."""
    return (any(is_masked(h["url"], every_query_value=True) or _has_masked_path(h["url"])
                or h.get("secret") == MASK for h in alerts.get("webhooks", ()))
            or any(url == shown_notify(url) for url in alerts.get("notify", ())))


def with_stored_alerts(alerts: dict, stored: dict, field: str) -> dict:
    """``alerts`` with each masked value taken from ``stored``. :raises ConfigError:"""
    result = copy.deepcopy(alerts)
    if "webhooks" in result:
        result["webhooks"] = _with_stored_hooks(result["webhooks"], stored.get("webhooks", []),
                                                f"{field}.webhooks")
    if "notify" in result:
        result["notify"] = _with_stored_notify(result["notify"], stored.get("notify", []),
                                               f"{field}.notify")
    return result


def _with_stored_hooks(hooks: list[dict], old_hooks: list[dict], field: str) -> list[dict]:
    """Each hook with its masked URL parts and secret from the stored hook that looks the same
    (of the same rank: two robots of one service look alike, ``?access_token=***``).
    :raises ConfigError:"""
    ranks: dict[str, int] = {}
    for i, hook in enumerate(hooks):
        look = shown_webhook(hook["url"])
        same = [old for old in old_hooks if shown_webhook(old["url"]) == look]
        nth = ranks[look] = ranks.get(look, -1) + 1
        old = same[nth] if nth < len(same) else None
        if old is not None and hook["url"] == shown_webhook(old["url"]):
            hook["url"] = old["url"]  # sent back as shown: the stored one, tokens and all
        elif is_masked(hook["url"], every_query_value=True) or _has_masked_path(hook["url"]):
            hook["url"] = unmask(hook["url"], old["url"], every_query_value=True) if old else None
            if hook["url"] is None or _has_masked_path(hook["url"]):
                raise ConfigError(f"{field}[{i}].url", _NO_STORED)
        if hook.get("secret") == MASK:
            if old is None or "secret" not in old:
                raise ConfigError(f"{field}[{i}].secret", _NO_STORED)
            hook["secret"] = old["secret"]
    return hooks


def _with_stored_notify(urls: list[str], old_urls: list[str], field: str) -> list[str]:
    """Each masked notify URL as the stored one of its scheme and rank. :raises ConfigError:"""
    seen: dict[str, int] = {}
    result = list(urls)
    for i, url in enumerate(urls):
        if url != shown_notify(url):
            continue
        same = [old for old in old_urls if shown_notify(old) == url]
        nth = seen[url] = seen.get(url, -1) + 1
        if nth >= len(same):
            raise ConfigError(f"{field}[{i}]", _NO_STORED)
        result[i] = same[nth]
    return result
