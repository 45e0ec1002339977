"""RTSP URLs: validation helpers and credential masking for logs, reports and listings."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

RTSP_SCHEMES = ("rtsp", "rtsps")
# user[:password]@ right after the scheme; the password may itself hold '@'.
_CREDENTIALS_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<cred>[^/?#]*)@")


def mask_credentials(url: str) -> str:
    """``rtsp://user:pass@host/x`` → ``rtsp://***@host/x``; other URLs unchanged."""
    return _CREDENTIALS_RE.sub(lambda m: m.group("scheme") + "***@", url, count=1)


def mask_in_text(text: str, urls: list[str]) -> str:
    """Replace every credential of ``urls`` that appears in ``text`` (ffmpeg echoes URLs)."""
    for url in urls:
        match = _CREDENTIALS_RE.match(url)
        if match and match.group("cred"):
            text = text.replace(match.group(0), match.group("scheme") + "***@")
            cred = match.group("cred")
            if ":" in cred:
                password = cred.split(":", 1)[1]
                if password:
                    text = text.replace(password, "***")
    return text


def rtsp_url_problem(url: str) -> str | None:
    """Why ``url`` is not a usable RTSP URL, or None when it is."""
    if not url or url != url.strip() or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "必须是不含空白字符的 rtsp:// 或 rtsps:// 地址"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "必须是有效的 rtsp:// 或 rtsps:// 地址 (端口无效)"
    if parts.scheme.lower() not in RTSP_SCHEMES:
        return "必须以 rtsp:// 或 rtsps:// 开头"
    if not parts.hostname:
        return "必须包含主机名"
    if port is not None and not 0 < port < 65536:
        return "端口必须在 1-65535 之间"
    return None
