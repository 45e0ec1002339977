"""Pure edits of a validated config (one global setting, one stream): each returns a new,
validated copy, with errors about the edited part named as the client sent it.

An update is partial (SPEC): a key sent replaces the stored one, a key left out stays. In a
stream's, a key sent as ``null`` is removed, as in a JSON merge patch (RFC 7396): it takes
its default (``weight`` 1, ``output_filename`` the one derived from the URL), an optional key
(``name``) is gone, and a required one (``rtsp_url``) is refused as missing. A global
setting sent as ``null`` is refused (its rule), as the seed does."""
from __future__ import annotations

import copy
from typing import Any

from shared.config import (GLOBAL_RULES, STREAM_RULES, require_object, validate_config,
                           validate_stream)
from shared.config_rules import reject_unknown as _reject_unknown
from shared.errors import ConfigError


def with_global_update(config: dict, changes: Any) -> dict:
    """A copy of ``config`` with the global keys of ``changes`` replaced.

    :raises ConfigError:
    """
    changes = require_object("", changes)
    _reject_unknown("", changes, GLOBAL_RULES)
    new = copy.deepcopy(config)
    new["global_config"].update(copy.deepcopy(changes))
    return _renamed_errors(new, "global_config")


def with_stream_added(config: dict, stream: Any) -> dict:
    """A copy of ``config`` with ``stream`` appended. :raises ConfigError:"""
    index = len(config["streams"])
    validate_stream(stream, "")  # name the body's own fields, not streams[N]
    new = copy.deepcopy(config)
    new["streams"].append(copy.deepcopy(stream))
    return _renamed_errors(new, f"streams[{index}]")


def with_stream_updated(config: dict, index: int, changes: Any) -> dict:
    """A copy of ``config`` with stream ``index`` partly replaced. :raises ConfigError:"""
    changes = require_object("", changes)
    _reject_unknown("", changes, STREAM_RULES)
    new = copy.deepcopy(config)
    _merged(new["streams"][index], changes)
    return _renamed_errors(new, f"streams[{index}]")


def _merged(section: dict, changes: dict) -> None:
    """``section`` with ``changes`` put in, each key given as None removed (see above)."""
    for key, value in changes.items():
        if value is None:
            section.pop(key, None)
        else:
            section[key] = copy.deepcopy(value)


def with_stream_removed(config: dict, index: int) -> dict:
    """A copy of ``config`` without stream ``index``."""
    new = copy.deepcopy(config)
    del new["streams"][index]
    return validate_config(new)


def _renamed_errors(config: dict, path: str) -> dict:
    # Errors about the edited section name its fields plainly (duration_seconds),
    # as the seed's messages do; errors elsewhere keep their full path.
    try:
        return validate_config(config)
    except ConfigError as exc:
        if exc.field.startswith(path + "."):
            raise ConfigError(exc.field[len(path) + 1:], exc.reason) from None
        raise
