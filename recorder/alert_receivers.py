"""The configured receivers (``global_config.alerts``) and the outbox's ``target`` names for them."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.alert_secrets import masked_path

# The two kinds of receiver, as the outbox names them in ``target``.
WEBHOOK, NOTIFY = "webhook", "notify"


@dataclass(frozen=True)
class Receiver:
    """Where a target's alerts go: ``kind`` (webhook or notify), its URL and signing secret."""

    kind: str
    url: str
    secret: str | None = None


def target_name(kind: str, url: str) -> str:
    """The outbox ``target`` of a receiver: ``"webhook " + url`` or ``"notify " + url``."""
    return f"{kind} {url}"


def find_receiver(target: str, alerts: dict) -> Receiver | None:
    """The receiver ``target`` names in the current config, or None when it is gone."""
    kind, _, url = target.partition(" ")
    if kind == WEBHOOK:
        for hook in alerts.get("webhooks") or ():
            if hook.get("url") == url:
                return Receiver(WEBHOOK, url, hook.get("secret") or None)
    elif kind == NOTIFY and url in (alerts.get("notify") or ()):
        return Receiver(NOTIFY, url)
    return None


def targets_for(event: str, alerts: dict) -> list[str]:
    """The targets that want ``event``: every notify URL, each webhook whose ``events`` allow it."""
    hooks = [target_name(WEBHOOK, hook["url"]) for hook in alerts.get("webhooks") or ()
             if hook.get("events") is None or event in hook["events"]]
    return hooks + [target_name(NOTIFY, url) for url in alerts.get("notify") or ()]


def shown_target(target: str) -> str:
    """A target as logged, without secrets: a webhook's URL without user or query (tokens
    live there), only the scheme of a notify URL (Apprise URLs hold tokens everywhere)."""
    kind, _, url = target.partition(" ")
    if kind != WEBHOOK:
        return f"{kind} {url.partition('://')[0]}://…"
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return f"{kind} (unreadable URL)"
    return f"{kind} {parts.scheme}://{parts.hostname}{port}{masked_path(parts.path)}"
