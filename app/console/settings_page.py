"""``/settings``: the global settings and the streams, edited with the API's rules and If-Match.

Each form carries the config's ETag as it was shown; a write whose tag is no
longer the file's is refused (412) with a conflict message, so two operators
never overwrite each other unseen. A rule broken shows the API's message next
to its field. Values keep the type the setting has (a number field sends a number).
"""
from __future__ import annotations

import json
import re
from collections.abc import Collection

from flask import make_response, render_template, request, url_for

from app.console import bp
from app.console.actions import message_of, status_of
from app.console.notices import noted_redirect, page_notice
from app.context import config_file, control_file, current_config_tagged
from app.scheduler import local_standby, start_scheduler, stop_scheduler
from shared import config as model
from shared import config_edits
from shared.config_file import edit_config, read_config_checked
from shared.control_file import request_reload
from shared.credentials import masked_config
from shared.errors import ConfigError, ConfigUnavailable, PatrolError, PreconditionFailed

CONFLICT_MESSAGE = "配置文件已被修改 (If-Match 不匹配), 请重新读取后再提交"
# Stream fields the form edits, in table order.
STREAM_FIELDS = (*model.STREAM_KEYS, *model.OPTIONAL_STREAM_KEYS)
# A value of each stream field's type (the form's text is read as that type); ``alerts`` is
# what a stream has when it leaves the key out.
STREAM_DEFAULTS = {"rtsp_url": "", "duration_seconds": 10, "weight": 1.0, "output_filename": "",
                   "rtsp_transport": "", "name": "", "alerts": True}
# Every global setting the form offers, with the value it has when the file leaves it out.
GLOBAL_FIELDS = {**model.GLOBAL_DEFAULTS, **model.OPTIONAL_DEFAULTS}
# The hint an empty box shows: the default, an object as one line of JSON.
GLOBAL_HINTS = {key: json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list))
                else str(value) for key, value in GLOBAL_FIELDS.items()}


def _typed(text: str, current: object) -> object:
    """A form value as the type of the setting's current value (unparsable text is left as text,
    so the rules name the problem in their own words)."""
    if isinstance(current, bool):
        return text.lower() in ("on", "true", "1")
    parsers = {int: (int, float), float: (float,), dict: (json.loads,), list: (json.loads,)}
    for parse in parsers.get(type(current), ()):
        try:
            return parse(text)
        except ValueError:
            continue
    if current is None and text.strip().lstrip("-").isdigit():
        return int(text)
    return text


def _changes(fields: dict, current: dict, defaults: dict) -> dict:
    """The submitted values that differ from ``current``'s, each read as the type of its value
    there, else of its ``defaults`` value. Unchanged ones are not resent; a setting the file
    leaves out stays out while its box is left empty, or a checkbox shows its default."""
    changes = {}
    for key, text in fields.items():
        value = _typed(text, current[key] if key in current else defaults.get(key))
        if key not in current and (text == "" or (isinstance(value, bool)
                                                  and value == defaults.get(key))):
            continue
        if key not in current or value != current[key]:
            changes[key] = value
    return changes


def _emptied(fields: dict, current: dict, optional: Collection[str]) -> set[str]:
    """The optional settings ``current`` has whose box was emptied: removed from the file, so
    their default applies again (an empty box of a required one is sent, and refused)."""
    return {key for key, text in fields.items() if key in optional and key in current
            and not isinstance(current[key], bool) and text.strip() == ""}


def _without(values: dict, keys: Collection[str]) -> dict:
    return {key: value for key, value in values.items() if key not in keys}


def _page(status: int = 200, error: dict | None = None, notice: str = "",
          typed: dict | None = None):
    """The page (a broken config.json: its error and the scheduler's buttons alone, 503);
    ``typed``: a form refused by a rule, shown again as it was filled in (never one
    refused for a stale tag: saved again, its old values would undo the other edit unseen).
    Drawn at a refused form's POST-only URL, it names its own (``page_url``): the browser shows
    that one, so a reload or the language link asks for /settings, not the form's 405."""
    try:
        config, tag = current_config_tagged()
    except ConfigUnavailable as exc:  # no form to edit; the scheduler still starts and stops
        config, tag, broken = {}, "", exc.cause.to_dict()
        status = status if status >= 400 else 503  # as the config endpoints answer (README)
    else:
        config, broken = masked_config(config), None
    page = make_response(render_template(
        "console/settings.html", page_url=url_for("console.settings_page"),
        config=config, etag=tag, error=error or {}, broken=broken,
        typed=typed or {}, notice=notice or page_notice(),
        stream_fields=STREAM_FIELDS, stream_defaults=STREAM_DEFAULTS,
        global_fields=GLOBAL_FIELDS, global_hints=GLOBAL_HINTS, standby=local_standby()),
        status)
    # A refused form comes back as typed, a URL's password too (masked, saving it again would
    # put the stored one back unseen): the browser keeps no copy of the page.
    page.headers["Cache-Control"] = "no-store"
    return page


@bp.get("/settings")
def settings_page():
    return _page()


def _edit(change, where: str, fields: Collection[str]):
    """Apply ``change`` under the form's If-Match; the page again, with the error placed at
    its field among ``fields`` (the form's), else above the form."""
    tag = request.form.get("etag", "")
    try:
        edit_config(config_file(), change, if_match=frozenset({tag}))
    except PreconditionFailed:
        return _page(409, {"where": where, "field": "", "message": CONFLICT_MESSAGE})
    except ConfigError as exc:
        # quality.blur_max is the form's quality box; streams[2].output_filename (another
        # stream's clash) is no field of this form.
        field = re.split(r"[.\[]", exc.field, maxsplit=1)[0]
        return _page(400, {"where": where, "field": field if field in fields else "",
                           "message": exc.message}, typed=_form_fields(request.form))
    return noted_redirect(url_for("console.settings_page"), "配置更新成功")


def _form_fields(names) -> dict:
    """The form's value of each of ``names`` it has; a checkbox sends a hidden "false" and,
    ticked, a "true" after it: the last value is the box's."""
    return {name: request.form.getlist(name)[-1] for name in names if name in request.form}


@bp.post("/settings/global")
def save_global():
    def change(config: dict) -> dict:
        current = config["global_config"]
        fields = _form_fields(GLOBAL_FIELDS)
        for key, value in current.items():  # an unticked checkbox sends nothing
            if isinstance(value, bool) and key not in fields:
                fields[key] = ""
        removed = _emptied(fields, current, model.OPTIONAL_DEFAULTS)
        kept = _without(current, removed)
        return config_edits.with_global_update({**config, "global_config": kept},
                                        _changes(_without(fields, removed), kept, GLOBAL_FIELDS))
    return _edit(change, "global", GLOBAL_FIELDS)


def _index(config: dict, text: str) -> int:
    if text.isdigit() and int(text) < len(config["streams"]):
        return int(text)
    raise PreconditionFailed(None)  # the list changed under the form


@bp.post("/settings/streams/<index>")
def save_stream(index: str):
    def change(config: dict) -> dict:
        position = _index(config, index)
        fields = _form_fields(STREAM_FIELDS)
        removed = _emptied(fields, config["streams"][position], model.OPTIONAL_STREAM_KEYS)
        streams = list(config["streams"])
        streams[position] = kept = _without(streams[position], removed)
        changes = _changes(_without(fields, removed), kept, STREAM_DEFAULTS)
        return config_edits.with_stream_updated({**config, "streams": streams}, position, changes)
    return _edit(change, f"stream-{index}", STREAM_FIELDS)


@bp.post("/settings/streams/add")
def add_stream():
    stream = _changes(_form_fields(STREAM_FIELDS), {}, STREAM_DEFAULTS)
    return _edit(lambda config: config_edits.with_stream_added(config, stream), "add", STREAM_FIELDS)


@bp.post("/settings/streams/<index>/delete")
def delete_stream(index: str):
    return _edit(lambda config: config_edits.with_stream_removed(config, _index(config, index)),
                 f"stream-{index}", ())


@bp.post("/settings/streams/<index>/move")
def move_stream(index: str):
    def change(config: dict) -> dict:
        position = _index(config, index)
        other = position - 1 if request.form.get("direction") == "up" else position + 1
        if not 0 <= other < len(config["streams"]):
            return config
        streams = list(config["streams"])
        streams[position], streams[other] = streams[other], streams[position]
        return model.validate_config({**config, "streams": streams})
    return _edit(change, f"stream-{index}", ())


@bp.post("/settings/reload")
def reload_config():
    try:
        read_config_checked(config_file())
    except ConfigError as exc:
        return _page(400, {"where": "actions", "field": exc.field, "message": exc.message})
    request_reload(control_file())
    return noted_redirect(url_for("console.settings_page"), "配置重新加载成功")


@bp.post("/settings/scheduler/<any(start, stop):action>")  # anything else: 404
def scheduler_action(action: str):
    view = start_scheduler if action == "start" else stop_scheduler
    try:
        answer = view().get_json()
    except PatrolError as exc:
        return _page(status_of(exc), {"where": "actions", "field": "", "message": message_of(exc)})
    return noted_redirect(url_for("console.settings_page"), answer["message"])
