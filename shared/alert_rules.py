"""The rule of ``global_config.alerts``: webhooks, notification URLs, the reminder interval and
the API's public address (for links to a camera's picture)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shared.config_rules import MAX_URL_LENGTH, IntRange, is_utf8_text, reject_unknown
from shared.errors import ConfigError
from shared.event_names import EVENTS
from shared.urls import MASK

ALERT_KEYS = ("webhooks", "notify", "remind_every_hours", "public_url")
WEBHOOK_KEYS = ("url", "secret", "events")
# Enough for every chat group and mailbox an operator has; a bound keeps one typo small.
MAX_RECEIVERS = 50
MAX_SECRET_LENGTH = 1024
_HTTP_RE = re.compile(r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\s]+[^\s]*$")
# An Apprise URL: a scheme (dingtalk://, wecombot://, feishu://, mailto://, …) and the rest.
_NOTIFY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")
_REMIND = IntRange(0, 10 * 365 * 24, "0 表示不提醒")
# The API's address as a chat user reaches it: a path prefix (a reverse proxy's) is fine;
# no user, query or fragment, since the picture's path is appended to it.
_BASE_URL_RE = re.compile(r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\s@]+(/[^?#\s]*)?$")


def _text(field: str, value: Any, pattern: re.Pattern, what: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(field, "必须是字符串")
    if len(value) > MAX_URL_LENGTH or not is_utf8_text(value) or not pattern.fullmatch(value):
        raise ConfigError(field, what)
    return value


def _array(field: str, value: Any) -> list:
    if not isinstance(value, list):
        raise ConfigError(field, "必须是数组")
    if len(value) > MAX_RECEIVERS:
        raise ConfigError(field, f"不能超过 {MAX_RECEIVERS} 个")
    return value


def _object(field: str, value: Any, keys: tuple[str, ...]) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(field, "必须是 JSON 对象")
    reject_unknown(f"{field}.", value, keys)
    return value


def _webhook(field: str, value: Any) -> dict:
    value = _object(field, value, WEBHOOK_KEYS)
    if "url" not in value:
        raise ConfigError(f"{field}.url", "是必填字段")
    hook = {"url": _text(f"{field}.url", value["url"], _HTTP_RE, "必须是 http:// 或 https:// 网址")}
    if "secret" in value:
        secret = value["secret"]
        if not isinstance(secret, str) or not secret or len(secret) > MAX_SECRET_LENGTH \
                or not is_utf8_text(secret):
            raise ConfigError(f"{field}.secret", f"必须是 1 到 {MAX_SECRET_LENGTH} 个字符的字符串")
        hook["secret"] = secret
    if "events" in value:
        events = _array(f"{field}.events", value["events"])
        for i, name in enumerate(events):
            if name not in EVENTS:
                raise ConfigError(f"{field}.events[{i}]", "必须是 " + ", ".join(EVENTS) + " 之一")
        hook["events"] = list(events)
    return hook


@dataclass(frozen=True)
class BaseUrl:
    """An http(s) base URL that paths are appended to (``https://patrol.example.com``)."""

    def check(self, field: str, value: Any) -> str:
        """``value`` as given (its users drop a trailing "/"). :raises ConfigError:"""
        return _text(field, value, _BASE_URL_RE,
                     "必须是 http:// 或 https:// 开头的网址 (不含用户名、? 和 #)")

    def schema(self) -> dict:
        """The JSON-schema fragment of this rule."""
        return {"type": "string", "maxLength": MAX_URL_LENGTH, "pattern": _BASE_URL_RE.pattern}


_PUBLIC_URL = BaseUrl()


def _once_each(field: str, urls: list[str]) -> None:
    """:raises ConfigError: a receiver's URL given twice (its alerts would go out once, under
    the first one's secret and events: the outbox keeps one target per URL). A masked URL is
    compared once its secrets are restored (:func:`check_receivers_once`)."""
    first: dict[str, int] = {}
    for i, url in enumerate(urls):
        if MASK in url:
            continue
        if url in first:
            name = field.rpartition(".")[2]
            raise ConfigError(f"{field}[{i}]", f"与 {name}[{first[url]}] 的网址相同, "
                                               "每个接收方只能出现一次")
        first[url] = i


def check_receivers_once(config: dict) -> None:
    """The rule of :func:`_once_each` on a whole config whose masked secrets were restored.

    :raises ConfigError:
    """
    alerts = config["global_config"].get("alerts") or {}
    field = "global_config.alerts"
    _once_each(f"{field}.webhooks", [hook["url"] for hook in alerts.get("webhooks", [])])
    _once_each(f"{field}.notify", alerts.get("notify", []))


@dataclass(frozen=True)
class AlertsRule:
    """``{"webhooks": [{"url", "secret"?, "events"?}], "notify": [URL], "remind_every_hours"?,
    "public_url"?}``."""

    def check(self, field: str, value: Any) -> dict:
        """``value`` checked, keys in their documented order. :raises ConfigError:"""
        value = _object(field, value, ALERT_KEYS)
        alerts: dict = {}
        if "webhooks" in value:
            hooks = _array(f"{field}.webhooks", value["webhooks"])
            alerts["webhooks"] = [_webhook(f"{field}.webhooks[{i}]", hook)
                                  for i, hook in enumerate(hooks)]
            _once_each(f"{field}.webhooks", [hook["url"] for hook in alerts["webhooks"]])
        if "notify" in value:
            urls = _array(f"{field}.notify", value["notify"])
            alerts["notify"] = [_text(f"{field}.notify[{i}]", url, _NOTIFY_RE,
                                      "必须是通知网址 (如 dingtalk://…, mailto://…)")
                                for i, url in enumerate(urls)]
            _once_each(f"{field}.notify", alerts["notify"])
        if "remind_every_hours" in value:
            alerts["remind_every_hours"] = _REMIND.check(f"{field}.remind_every_hours",
                                                         value["remind_every_hours"])
        if "public_url" in value:
            alerts["public_url"] = _PUBLIC_URL.check(f"{field}.public_url", value["public_url"])
        return alerts

    def schema(self) -> dict:
        """The JSON-schema fragment of this rule (the rule's own patterns: ECMA reads them alike)."""
        url = {"type": "string", "maxLength": MAX_URL_LENGTH}
        webhook = {"type": "object", "required": ["url"], "additionalProperties": False,
                   "properties": {
                       "url": {**url, "pattern": _HTTP_RE.pattern},
                       "secret": {"type": "string", "minLength": 1,
                                  "maxLength": MAX_SECRET_LENGTH},
                       "events": {"type": "array", "maxItems": MAX_RECEIVERS,
                                  "items": {"type": "string", "enum": list(EVENTS)}}}}
        return {"type": "object", "additionalProperties": False, "properties": {
            "webhooks": {"type": "array", "maxItems": MAX_RECEIVERS, "items": webhook},
            "notify": {"type": "array", "maxItems": MAX_RECEIVERS,
                       "items": {**url, "pattern": _NOTIFY_RE.pattern}},
            "remind_every_hours": _REMIND.schema(), "public_url": _PUBLIC_URL.schema()}}
