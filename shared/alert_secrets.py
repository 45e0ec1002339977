"""Secrets in ``global_config.alerts``: shown masked; a masked one sent back keeps the stored one.

A webhook's ``secret`` shows as ``***`` and its URL with its password, every
query parameter's value (``?access_token=***``: a service may take its token under
any name) and each path segment that looks like a token (``…/hook/***``) masked; a
``notify`` URL (Apprise: tokens anywhere in it) as its scheme only, ``dingtalk://***``.
A client that reads the config and sends it back gets each stored value back: a webhook
by its masked URL (so only for the same host, path and parameter names), a notify URL by
its masked form. Among stored ones that look the same and differ in their secrets, a
masked one is refused (give it in full) unless it can be told apart for sure (see
:func:`matched_by_look`): removing the first of two lookalike robots must not hand the
other one its token.
"""
from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

from shared.errors import ConfigError
from shared.urls import MASK, is_masked, mask_credentials, unmask

_NO_STORED = "含有隐藏的密钥 (***), 但找不到已保存的值; 请填写完整"
_AMBIGUOUS = "含有隐藏的密钥 (***), 但有几个已保存的接收者看起来相同, 无法确定是哪一个; 请填写完整地址"
# A hook given with a new URL in full and its secret masked: the URL is all there, the secret
# is what cannot be told (its lookalikes' secrets differ).
# A URL with the mask in it but not where the shown form has it (``?access_token=AAA***``):
# no stored URL reads like that; saved as sent, alerts would go to a broken token.
_MASKED_IN_PART = "含有隐藏的密钥 (***), 但不是读取时的样子, 找不到对应的已保存地址; 请填写完整地址"
_AMBIGUOUS_SECRET = ("是隐藏的密钥 (***), 但网址是新的, 看起来相同的已保存接收者的密钥各不相同, "
                     "无法确定是哪一个; 请填写完整的密钥")


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


def _masked_url(url: str) -> bool:
    return is_masked(url, every_query_value=True) or _has_masked_path(url)


def _shown_hook(hook: dict) -> str:
    """A hook as shown (a masked URL as sent: one masked in part is no stored one's look), as
    one comparable text of all its fields."""
    url = hook["url"] if _masked_url(hook["url"]) else shown_webhook(hook["url"])
    return json.dumps({**hook, "url": url, **({"secret": MASK} if "secret" in hook else {})},
                      sort_keys=True)


def _with_stored_hooks(hooks: list[dict], old_hooks: list[dict], field: str) -> list[dict]:
    """Each hook with its masked URL parts and secret from the stored hook that looks the same.

    Among stored hooks that look alike (two robots of one service, ``?access_token=***``) one
    whose URL is given in full is the stored one of that URL (no URL is stored twice); a
    masked one takes the secrets the others all share, or, when they differ, those of the one
    it can only be: the hooks sent masked are those left (the same fields, in the stored order;
    a URL masked in part is none of them), or those left, masked as shown, in the stored order
    with one of them edited in place. Else it could be either. :raises ConfigError:"""
    given = {hook["url"] for hook in hooks}
    left = [old for old in old_hooks if old["url"] not in given]
    found = matched_by_look([(i, hook) for i, hook in enumerate(hooks) if _masked_url(hook["url"])],
                            left, lambda hook: shown_webhook(hook["url"]), _shown_hook,
                            lambda hook: hook["url"] == shown_webhook(hook["url"]))
    for i, hook in enumerate(hooks):
        if MASK in hook["url"] and not _masked_url(hook["url"]):
            raise ConfigError(f"{field}[{i}].url", _MASKED_IN_PART)
        if _masked_url(hook["url"]):
            old = found[i]
            if old is AMBIGUOUS:
                raise ConfigError(f"{field}[{i}].url", _AMBIGUOUS)
            if old is not None and hook["url"] == shown_webhook(old["url"]):
                restored = old["url"]  # sent back as shown: the stored one, tokens and all
            else:
                restored = unmask(hook["url"], old["url"], every_query_value=True) if old else None
            if restored is None or _has_masked_path(restored):
                raise ConfigError(f"{field}[{i}].url", _NO_STORED)
            if MASK in restored:
                raise ConfigError(f"{field}[{i}].url", _MASKED_IN_PART)
            hook["url"] = restored
        elif hook.get("secret") == MASK:
            old = _same_secret(hook["url"], old_hooks, left, f"{field}[{i}]")
        if hook.get("secret") == MASK:
            if old is None or "secret" not in old:
                raise ConfigError(f"{field}[{i}].secret", _NO_STORED)
            hook["secret"] = old["secret"]
    return hooks


def _same_secret(url: str, old_hooks: list[dict], left: list[dict], field: str) -> dict | None:
    """The stored hook whose secret a hook (``field``) given with its ``url`` not masked as shown
    and a masked secret keeps: the one of that URL, else (its token changed) the lookalikes',
    when they share one.
    :raises ConfigError: lookalikes with other secrets: at its URL when the URL is masked in
    part (``?token=AAA***``: the URL is what to give in full), else at its secret."""
    same_url = [old for old in old_hooks if old["url"] == url]
    if same_url:
        return same_url[0]
    same = [old for old in left if shown_webhook(old["url"]) == shown_webhook(url)]
    if len({old.get("secret") for old in same}) > 1:
        if MASK in url:
            raise ConfigError(f"{field}.url", _AMBIGUOUS)
        raise ConfigError(f"{field}.secret", _AMBIGUOUS_SECRET)
    return same[0] if same else None


def _with_stored_notify(urls: list[str], old_urls: list[str], field: str) -> list[str]:
    """Each masked notify URL as the stored one of its scheme it can only be (see
    :func:`matched_by_look`). :raises ConfigError:"""
    for i, url in enumerate(urls):
        if MASK in url and url != shown_notify(url):
            raise ConfigError(f"{field}[{i}]", _MASKED_IN_PART)
    found = matched_by_look([(i, url) for i, url in enumerate(urls) if url == shown_notify(url)],
                            [old for old in old_urls if old not in urls], shown_notify,
                            shown_notify, lambda url: True)
    result = list(urls)
    for i, old in found.items():
        if old is None:
            raise ConfigError(f"{field}[{i}]", _NO_STORED)
        if old is AMBIGUOUS:
            raise ConfigError(f"{field}[{i}]", _AMBIGUOUS)
        result[i] = old
    return result


AMBIGUOUS = object()


def matched_by_look(masked: list[tuple[int, Any]], stored: list[Any],
                    look: Callable[[Any], str], whole_look: Callable[[Any], str],
                    as_shown: Callable[[Any], bool]) -> dict:
    """For each ``(index, item)`` sent masked, the stored item it stands for: None when none
    looks the same, :data:`AMBIGUOUS` when it could be one of several that differ in secrets.

    ``look`` is what an item's masked URL shows; ``whole_look`` all of it as shown;
    ``as_shown`` is true of an item whose URL is masked exactly as shown (not in part). Among
    the stored that look the same, one is sure when they are all equal, or when the masked
    ones sent of that look stand at their places: as many as stored, in the stored order, as
    shown whole, but for one at most (edited in place: its events, say). Each takes the
    stored one at its place; more sent than stored, the stored ones found among them shown
    whole in order, else the first at their places: the others are new ones masked, ambiguous
    (the 400 names a new one, wherever it stands). Sent in another order (two lookalikes'
    events swapped, or two edited) they could be a reorder or an edit, which cannot be told
    apart: ambiguous.
    """
    found: dict = {}
    for shown in {look(item) for _, item in masked}:
        sent = [(i, item) for i, item in masked if look(item) == shown]
        same = [old for old in stored if look(old) == shown]
        if not same or all(old == same[0] for old in same):
            found.update((i, same[0] if same else None) for i, _ in sent)
        elif len(sent) > len(same) and (kept := _stored_among(sent, same, whole_look)):
            # each stored one sent back whole, in order; the others are new: none to restore
            found.update((i, kept.get(i, AMBIGUOUS)) for i, _ in sent)
        elif _at_their_places([item for _, item in sent[:len(same)]], same, whole_look,
                              as_shown):
            # the stored at their places; any sent after them is new: masked, none to restore
            found.update((i, old) for (i, _), old in zip(sent, same))
            found.update((i, AMBIGUOUS) for i, _ in sent[len(same):])
        else:
            found.update((i, AMBIGUOUS) for i, _ in sent)
    return found


def _stored_among(sent: list[tuple[int, Any]], same: list[Any],
                  whole_look: Callable[[Any], str]) -> dict:
    """``{index: stored}`` when the lookalikes ``same`` are all among ``sent``, each shown
    whole as stored and in the stored order (the first that fits takes each); else empty.
    Those sent left over are new ones, wherever they stand."""
    kept: dict = {}
    for i, item in sent:
        if len(kept) < len(same) and whole_look(item) == whole_look(same[len(kept)]):
            kept[i] = same[len(kept)]
    return kept if len(kept) == len(same) else {}


def _at_their_places(sent: list[Any], same: list[Any], whole_look: Callable[[Any], str],
                     as_shown: Callable[[Any], bool]) -> bool:
    """True when ``sent`` are the lookalikes ``same`` at their places: all of them, in order,
    shown whole as stored, or masked as shown and but one so (any reading of one edit in
    place gives the same hooks; of two, a swap or a reorder could give others)."""
    if len(sent) != len(same):
        return False
    edited = [item for item, old in zip(sent, same) if whole_look(item) != whole_look(old)]
    return not edited or (len(edited) == 1 and all(map(as_shown, sent)))
