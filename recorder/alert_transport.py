"""How one alert reaches one receiver: a signed webhook POST, or an Apprise notification."""
from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from urllib.parse import quote

# One slow receiver must not hold the other receivers' alerts for long.
SEND_TIMEOUT_SECONDS = 10.0
SIGNATURE_HEADER = "X-Signature-256"
USER_AGENT = "rtsp-patrol-alerts/1"
# Notification titles, by event (the body's Chinese message says the rest).
TITLES = {
    "camera.offline": "摄像头离线",
    "camera.recovered": "摄像头恢复",
    "camera.reminder": "摄像头仍然离线",
    "cycle.finished": "巡检轮次完成",
    "recorder.disk_low": "磁盘空间不足",
    "recorder.config_error": "配置文件错误",
}
_NOTIFY_TYPES = {"camera.recovered": "success", "cycle.finished": "info"}


class DeliveryError(Exception):
    """The receiver did not take the alert (the message says why, without secrets)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirected POST turns into a GET without its body: a redirect is a failure.
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003 - urllib's signature
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def signature(secret: str, body: bytes) -> str:
    """The ``X-Signature-256`` value of ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post_webhook(url: str, body: str, secret: str | None) -> None:
    """POST ``body`` (the stored JSON text, as is) to ``url``; signed when there is a secret.

    :raises DeliveryError: no connection, a timeout, or an answer other than 2xx.
    """
    raw = body.encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, raw)
    request = urllib.request.Request(url, data=raw, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=SEND_TIMEOUT_SECONDS) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:  # URLError, timeouts, resets are OSErrors
        raise DeliveryError(str(getattr(exc, "reason", exc)) or type(exc).__name__) from None


def send_notify(url: str, body: str) -> None:
    """Send the event's title and Chinese message through Apprise to ``url``, with the camera's
    picture attached where the service takes attachments.

    :raises DeliveryError: Apprise refused the URL or the service did not take it.
    """
    import apprise  # only a recorder with notify receivers pays for the import

    event = json.loads(body)
    notifier = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
    if not notifier.add(url):
        raise DeliveryError("Apprise does not accept this URL")
    result = notifier.notify(body=event.get("message", ""), title=notify_title(event),
                             notify_type=_NOTIFY_TYPES.get(event.get("event"), "failure"),
                             timeout=SEND_TIMEOUT_SECONDS, attach=_picture(notifier, event))
    if not result:
        errors = [entry.message for entry in result.logs() if entry.level in ("ERROR", "WARNING")]
        raise DeliveryError((errors[-1] if errors else "not delivered")[:300])


def _picture(notifier, event: dict):  # noqa: ANN001, ANN202 - apprise's types, imported late
    """The event's picture (``camera.thumbnail``) as an Apprise attachment, fetched over HTTP;
    None when there is none, no service of ``notifier`` takes attachments (chat robots), or it
    cannot be fetched (e.g. reads need the API token): the message then goes without it."""
    camera = event.get("camera") or {}
    link = camera.get("thumbnail")
    if not link or not any(service.attachment_support for service in notifier):
        return None
    import apprise

    # Apprise takes ``name`` for the attachment's file name and does not send it on.
    name = quote(f"{camera.get('id') or 'camera'}.jpg", safe="")
    attachment = apprise.AppriseAttachment(asset=notifier.asset)
    if not attachment.add(f"{link}?name={name}") or not all(item.exists() for item in attachment):
        return None
    return attachment


def notify_title(event: dict) -> str:
    """``摄像头离线: 东门入口`` for a camera event, the event's title alone otherwise."""
    title = TITLES.get(event.get("event", ""), "巡检录像机通知")
    camera = event.get("camera") or {}
    label = camera.get("name") or camera.get("id")
    return f"{title}: {label}" if label else title


def notify_url_accepted(url: str) -> bool:
    """Whether Apprise knows this URL's format (for the config's validation)."""
    import apprise

    return bool(apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory")).add(url))
