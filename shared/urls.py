"""RTSP URLs: validation helpers, and credential masking for logs, reports and answers."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from shared.gateways import DEFAULT_PORTS

RTSP_SCHEMES = ("rtsp", "rtsps")
# What stands in for a secret wherever a URL is shown.
MASK = "***"
# user[:password]@ right after the scheme; the password may itself hold '@'.
_CREDENTIALS_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<cred>[^/?#]*)@")
# The same anywhere in a text: never across a blank (a URL holds none: rtsp_url_problem).
_CREDENTIALS_IN_TEXT_RE = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<cred>[^/?#\s]*)@")
# An RTSP URL with an '@' after its host part (which ends at the first '/', '?' or '#'): a
# user name or password holding one of those, unencoded, split the user info.
_AT_AFTER_HOST_RE = re.compile(r"^rtsps?://[^/?#]+[/?#].*@", re.IGNORECASE)
# Query parameters some cameras and services take a password, token or signature in
# (?user=admin&password=…, ?access_token=…, DingTalk's &sign=…).
SECRET_QUERY_KEYS = ("password", "passwd", "pwd", "token", "access_token", "key", "apikey",
                     "api_key", "secret", "sign", "signature")
_QUERY_SECRET_RE = re.compile(
    r"(?P<key>(?<=[?&;])(?:" + "|".join(SECRET_QUERY_KEYS) + r")=)(?P<value>[^&;#\s]*)",
    re.IGNORECASE)
# Where a query value ends in a text: the next parameter, a blank or the end, after any of the
# marks a log puts after a URL (ffmpeg's "…?password=p: Server returned 401", "from '…':").
_AFTER_URL_MARKS = r"""[:'",.)\]]*"""
_VALUE_END = r"(?=" + _AFTER_URL_MARKS + r"(?:[&;#\s]|$))"
_MASKED_VALUE_RE = re.compile(re.escape(MASK) + _AFTER_URL_MARKS)
# Every query parameter: a webhook's token may go under any name (?code=, ?sig=, ?k=).
_ANY_QUERY_RE = re.compile(r"(?P<key>(?<=[?&;])[^=&;#\s]+=)(?P<value>[^&;#\s]*)")


def _query_re(every_query_value: bool) -> re.Pattern:
    return _ANY_QUERY_RE if every_query_value else _QUERY_SECRET_RE


def _masked_userinfo(cred: str) -> str:
    # A user name is kept (it tells which account); a lone name may be a token, so it is not.
    user, colon, _ = cred.partition(":")
    return f"{user}:{MASK}" if colon else MASK


def mask_credentials(url: str, every_query_value: bool = False) -> str:
    """``rtsp://user:pass@host/x?pwd=p`` → ``rtsp://user:***@host/x?pwd=***``; others unchanged.

    ``every_query_value``: each parameter's value is masked, whatever its name (a webhook).
    """
    url = _CREDENTIALS_RE.sub(
        lambda m: m.group("scheme") + _masked_userinfo(m.group("cred")) + "@", url, count=1)
    return _mask_query(url, every_query_value)


def _mask_query(text: str, every_query_value: bool = False) -> str:
    return _query_re(every_query_value).sub(lambda m: m.group("key") + MASK, text)


def _mask_query_in_text(text: str) -> str:
    """:func:`_mask_query` for a text whose known secrets were masked already: a value masked
    so stays as it is, with the marks after it (in ffmpeg's ``…?password=***: Server returned
    401`` the ``:`` is ffmpeg's, not the value's); any other, ``***SECRET2`` too, is masked."""
    def masked(match: re.Match) -> str:
        if _MASKED_VALUE_RE.fullmatch(match.group("value")):
            return match.group(0)
        return match.group("key") + MASK
    return _QUERY_SECRET_RE.sub(masked, text)


def mask_in_text(text: str, urls: list[str]) -> str:
    """``text`` (an ffmpeg line, which echoes the URL) with each credential masked where it
    stands as one: the user info of any URL in it, and the value of a secret query parameter.

    Not wherever its characters appear: a password ``404`` leaves ``HTTP 404`` as it is. A
    secret parameter of ``urls`` is masked to its exact end, so that what follows it stays
    (in ffmpeg's ``…?password=***: Server returned 401`` the ``:`` is ffmpeg's), and only
    where its value ends there (``?password=abcSECRET2`` is another value, masked whole).
    """
    for url in urls:
        for match in _QUERY_SECRET_RE.finditer(url):
            if match.group("value") and match.group("value") != MASK:
                text = re.sub(r"(?<=[?&;])" + re.escape(match.group(0)) + _VALUE_END,
                              lambda _, key=match.group("key"): key + MASK, text)
    text = _CREDENTIALS_IN_TEXT_RE.sub(
        lambda m: m.group("scheme") + _masked_userinfo(m.group("cred")) + "@", text)
    return _mask_query_in_text(text)


def is_masked(url: str, every_query_value: bool = False) -> bool:
    """True when ``url`` carries :data:`MASK` where a password or secret parameter goes (any
    parameter with ``every_query_value``)."""
    match = _CREDENTIALS_RE.match(url)
    if match and MASK in (match.group("cred"), match.group("cred").partition(":")[2]):
        return True
    return any(m.group("value") == MASK for m in _query_re(every_query_value).finditer(url))


def same_server(url: str, other: str) -> bool:
    """True when both URLs reach the same server: the same scheme, host and port (a port left
    out is the scheme's default), and for ``unix://`` the same socket path."""
    mine = _server(url)
    return mine is not None and mine == _server(other)



def _server(url: str) -> tuple | None:
    """(scheme, host, port, socket path) of ``url``; None when it cannot be read."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    return (scheme, parts.hostname or "", port or DEFAULT_PORTS.get(scheme),
            parts.path if scheme == "unix" else "")


def unmask(url: str, stored: str, every_query_value: bool = False) -> str | None:
    """``url`` with each masked secret taken back from ``stored``; None when ``stored`` lacks one
    or is on another server.

    A client that read a masked URL and sends it back (perhaps with the user
    name, path or other parameters changed) keeps the password it never saw; a
    secret it spells out replaces the stored one. A URL pointed at another
    scheme, host or port gets nothing: whoever may edit but never read the
    password could otherwise have it sent to a server of their own.
    """
    if is_masked(url, every_query_value) and not same_server(url, stored):
        return None
    cred = _CREDENTIALS_RE.match(url)
    if cred and MASK in (cred.group("cred"), cred.group("cred").partition(":")[2]):
        old = _CREDENTIALS_RE.match(stored)
        if old is None or (cred.group("cred") != MASK and ":" not in old.group("cred")):
            return None
        secret = old.group("cred")
        if cred.group("cred") != MASK:
            secret = cred.group("cred").partition(":")[0] + ":" + secret.partition(":")[2]
        url = cred.group("scheme") + secret + "@" + url[cred.end():]
    return _unmask_query(url, stored, _query_re(every_query_value))


def _unmask_query(url: str, stored: str, query_re: re.Pattern) -> str | None:
    """Each masked parameter takes the stored value of its name and rank (?t=…&t=… twice)."""
    old: dict[str, list[str]] = {}
    for m in query_re.finditer(stored):
        old.setdefault(m.group("key").lower(), []).append(m.group("value"))
    seen: dict[str, int] = {}

    def restore(m: re.Match) -> str:
        key = m.group("key").lower()
        nth = seen[key] = seen.get(key, -1) + 1
        if m.group("value") != MASK:
            return m.group(0)
        return m.group("key") + old.get(key, [])[nth]

    try:
        return query_re.sub(restore, url)
    except IndexError:  # a masked parameter the stored URL has not (that many times)
        return None


# A host (a name, or an IPv6 address in whole brackets) and a port of digits only.
_HOST_AND_DIGITS_PORT_RE = re.compile(r"(?:[^\[\]:]*|\[[^\[\]]*\]):\d+$")


def rtsp_url_problem(url: str) -> str | None:
    """Why ``url`` is not a usable RTSP URL, or None when it is."""
    if not url or url != url.strip() or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "必须是不含空白字符的 rtsp:// 或 rtsps:// 地址"
    if _AT_AFTER_HOST_RE.match(url):
        # rtsp://admin:pa/ss@cam/x: the password's "/" ends the host part, so it reads as
        # host "admin", port "pa" (or 12, for 12/34); ffmpeg cannot use it, and no mask
        # could find the password. Said before the port is read: whatever the password
        # looks like, this is what the user must fix.
        return "@ 只能用在主机名之前; 用户名或密码中的 / ? # @ 须写成 %2F %3F %23 %40"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # an invalid port, or an unclosed "[" (urlsplit itself refuses it)
        host = re.split(r"[/?#]", url.partition("//")[2], maxsplit=1)[0].rpartition("@")[2]
        if _HOST_AND_DIGITS_PORT_RE.match(host):
            return "端口必须在 1-65535 之间"  # Python refuses 99999 itself
        return "必须是有效的 rtsp:// 或 rtsps:// 地址 (端口无效)"
    if parts.scheme.lower() not in RTSP_SCHEMES:
        return "必须以 rtsp:// 或 rtsps:// 开头"
    if not parts.hostname:
        return "必须包含主机名"
    if port is not None and not 0 < port < 65536:
        return "端口必须在 1-65535 之间"
    return None
