"""The kinds of config rule: each checks a value and describes itself as a JSON-schema fragment."""
from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from shared.clip_names import MAX_NAME_BYTES
from shared.errors import ConfigError
from shared.urls import RTSP_SCHEMES, rtsp_url_problem

MAX_URL_LENGTH = 4096
# A plain file name's characters: no directory part, no backslash, no C0 control character
# (a tab, a newline); shared/output_tree takes no other name for a clip.
PLAIN_NAME_RE = re.compile(r"\A[^/\\\x00-\x1f]+\Z")
# C0 and C1 control characters, DEL (a display name shows in logs, messages and pages; an
# output folder's path in every clip's listed path). The pattern: the same in a JSON schema.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_PATTERN = "\\u0000-\\u001f\\u007f-\\u009f"
# What hides or turns text around in a name (the console, alerts, reports): every format
# character (category Cf: the bidi controls as a right-to-left override U+202E, a zero width
# space U+200B, a word joiner U+2060, the invisible operators U+2061-2064, a Mongolian vowel
# separator U+180E, the interlinear annotation marks U+FFF9-FFFB, a byte order mark U+FEFF, ...)
# and the line and paragraph separators, which break the line. But for the format characters of
# real names: a zero width non-joiner U+200C (Persian, Indic scripts), a joiner U+200D (emoji
# sequences), a soft hyphen U+00AD, an emoji's tag characters U+E0020-E007F (a flag's): a name of
# nothing else is refused as invisible. The prepended concatenation marks (the Arabic number
# signs U+0600-0605, U+06DD, ...) are drawn, around the digits that follow.
_NAME_FORMAT_CODES = frozenset((0x00AD, 0x200C, 0x200D, *range(0xE0020, 0xE0080)))
_DRAWN_FORMAT_CODES = frozenset((*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2,
                                 0x110BD, 0x110CD))
# What draws nothing on its own: format characters, line and paragraph separators, combining
# marks (a combining grapheme joiner U+034F, variation selectors U+FE00-FE0F, U+17B4); and a few
# letters and symbols drawn blank (the Hangul fillers, the blank braille pattern U+2800). A
# name of these and white space only looks empty in the console, alerts and reports.
_INVISIBLE_CATEGORIES = ("Cf", "Zl", "Zp", "Mn", "Me")
_BLANK_LETTERS = frozenset((0x115F, 0x1160, 0x2800, 0x3164, 0xFFA0))
# The planes that hold such characters (Unicode assigns format characters and marks in no
# other; tests/test_config_validation.py checks it of the Unicode Python has).
PLANES_WITH_INVISIBLES = (0x0, 0x1, 0xE)


def hides_text(ch: str) -> bool:
    """True for a character that hides or turns text around in a name."""
    category = unicodedata.category(ch)
    if category == "Cf":
        return ord(ch) not in _NAME_FORMAT_CODES and ord(ch) not in _DRAWN_FORMAT_CODES
    return category in ("Zl", "Zp")


def hiding_character(text: str) -> str | None:
    """The first character of ``text`` that hides or turns text around (:func:`hides_text`)."""
    return next((ch for ch in text if hides_text(ch)), None)


def hiding_problem(text: str) -> str | None:
    """Why ``text`` may not name a camera or a clip for what it hides, or None."""
    hiding = hiding_character(text)
    return None if hiding is None else f"不能含有不可见的格式字符 (U+{ord(hiding):04X})"


def is_plain_name(name: str) -> bool:
    """True for a name an ``output_filename`` (so a clip) can have as far as its characters go:
    no folder part, no backslash, no C0 control character, nothing that hides or turns text
    around (as a camera's name: a right-to-left override U+202E would turn the console's
    text around it)."""
    return PLAIN_NAME_RE.fullmatch(name) is not None and hiding_character(name) is None


def draws_nothing(ch: str) -> bool:
    """True for a character drawn as nothing on its own."""
    if ord(ch) in _BLANK_LETTERS:
        return True
    return unicodedata.category(ch) in _INVISIBLE_CATEGORIES and ord(ch) not in _DRAWN_FORMAT_CODES


def _class_text(chosen: Callable[[str], bool]) -> str:
    """The characters ``chosen`` takes (of those that may draw nothing), as a character class's
    content: ``\\uXXXX`` escapes up to U+FFFF, the characters themselves beyond (a pattern of
    Python's re and ECMA-262's, with its u flag, alike: no escape beyond U+FFFF is both's)."""
    ranges: list[list[int]] = []
    for code in _may_draw_nothing():
        if not chosen(chr(code)):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(_class_char(low) + (f"-{_class_char(high)}" if high > low else "")
                   for low, high in ranges)


@functools.cache
def _may_draw_nothing() -> tuple[int, ...]:
    """The code points of the categories that may draw nothing (those that hide text among
    them), and the blank letters."""
    return tuple(code for plane in PLANES_WITH_INVISIBLES
                 for code in range(plane << 16, (plane + 1) << 16)
                 if unicodedata.category(chr(code)) in _INVISIBLE_CATEGORIES
                 or code in _BLANK_LETTERS)


def _class_char(code: int) -> str:
    return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)


@functools.cache
def _display_name_pattern() -> str:
    """A JSON schema's pattern of the names :class:`DisplayName` takes: none of its control or
    hiding characters, and one character at least not white space nor drawn as nothing.

    The body is a group so that Schemathesis keeps the pattern as it is: it folds maxLength
    into the quantifiers of ``^a*bc*$``, spelling a format character beyond U+FFFF
    ``\\U000e0001``, which no ECMA-262 pattern takes (tests/test_api_schema_fuzz.py)."""
    kept = _CONTROL_PATTERN + _class_text(hides_text)
    return f"^([^{kept}]*[^{kept}{_class_text(draws_nothing)}\\s][^{kept}]*)$"


def is_utf8_text(value: str) -> bool:
    """False for a string holding a lone surrogate (from a ``"\ud800"`` escape in JSON).

    No path, argv or file can hold one: writing or opening it raises
    UnicodeEncodeError, which is no OSError and would escape every handler.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Rule(Protocol):
    """What every rule does: check a value, describe itself."""

    def check(self, field: str, value: Any) -> Any:
        """The value, normalized. :raises ConfigError: naming ``field``."""

    def schema(self) -> dict:
        """A JSON-schema fragment of the values :meth:`check` accepts."""


def reject_unknown(prefix: str, data: dict, known: tuple[str, ...] | dict) -> None:
    """Refuse the first key of ``data`` not in ``known``. :raises ConfigError:"""
    for key in data:
        if key not in known:
            # The name is echoed into logs, the status file and answers: spell a
            # lone surrogate as an escape so all of them can still be written.
            shown = key.encode("utf-8", "backslashreplace").decode("utf-8")
            raise ConfigError(f"{prefix}{shown}", "是未知字段 (可能是拼写错误)")


def _any_case(text: str) -> str:
    """A regex matching ``text`` in any letter case (JSON schema patterns have no flags)."""
    return "".join(f"[{ch.upper()}{ch.lower()}]" if ch.isalpha() else re.escape(ch)
                   for ch in text)


def _require_integer(field: str, value: Any) -> int:
    # bool is a subclass of int in Python; JSON true is not a count of seconds.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(field, "必须是整数")
    return value


@dataclass(frozen=True)
class IntRange:
    """An integer from ``low`` to ``high``; ``note`` says what the lowest value means."""

    low: int
    high: int
    note: str = ""

    def check(self, field: str, value: Any) -> int:
        """``value`` when it is in range. :raises ConfigError:"""
        value = _require_integer(field, value)
        if value < self.low:
            text = "必须大于 0" if self.low == 1 else f"必须大于等于 {self.low}"
            raise ConfigError(field, text + (f" ({self.note})" if self.note else ""))
        if value > self.high:
            raise ConfigError(field, f"不能大于 {self.high}")
        return value

    def schema(self) -> dict:
        """The JSON-schema fragment of this rule."""
        return {"type": "integer", "minimum": self.low, "maximum": self.high}


@dataclass(frozen=True)
class CountOrUnlimited:
    """-1 (no end) or a count from 1 to ``high``."""

    high: int

    def check(self, field: str, value: Any) -> int:
        """``value`` when allowed. :raises ConfigError:"""
        value = _require_integer(field, value)
        if value == -1 or 1 <= value <= self.high:
            return value
        raise ConfigError(field, "必须为 -1 (无限循环) 或大于等于 1")

    def schema(self) -> dict:
        """The JSON-schema fragment of this rule (0 is left out with ``not``)."""
        return {"type": "integer", "minimum": -1, "maximum": self.high, "not": {"enum": [0]}}


@dataclass(frozen=True)
class PositiveNumber:
    """A finite number above 0 and at most ``high``; ints become floats."""

    high: int

    def check(self, field: str, value: Any) -> float:
        """``value`` as a float. :raises ConfigError:"""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(field, "必须是数字")
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(field, "必须是大于 0 的有限数字")
        if value > self.high:
            raise ConfigError(field, f"不能大于 {self.high}")
        return float(value)

    def schema(self) -> dict:
        """The JSON-schema fragment of this rule (OpenAPI 3.0's boolean exclusiveMinimum)."""
        return {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": self.high}


@dataclass(frozen=True)
class Choice:
    """One of a few fixed strings."""

    options: tuple[str, ...]

    def check(self, field: str, value: Any) -> str:
        """``value`` when it is one of the options. :raises ConfigError:"""
        if value not in self.options:
            raise ConfigError(field, "必须是 " + ", ".join(self.options) + " 之一")
        return value

    def schema(self) -> dict:
        """The JSON-schema fragment of this rule."""
        return {"type": "string", "enum": list(self.options)}


@dataclass(frozen=True)
class DirectoryPath:
    """A non-empty path any file system call can take (where it may point: shared/output_rule.py)."""

    def check(self, field: str, value: Any) -> str:
        """``value`` when it is a usable path. :raises ConfigError:"""
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(field, "必须是非空字符串")
        if "\x00" in value or len(value) > MAX_URL_LENGTH or not is_utf8_text(value):
            raise ConfigError(field, "不是有效的目录路径")
        # The API lists each clip's path spelled from this value, and refuses to delete a
        # path holding either (shared/output_tree/names.py): every clip would stay for good.
        if _CONTROL_RE.search(value) or "\\" in value:
            raise ConfigError(field, "不能含有控制字符 (如制表符, 换行) 或反斜杠")
        return value

    def schema(self) -> dict:
        """The JSON-schema fragment of this rule."""
        return {"type": "string", "minLength": 1, "maxLength": MAX_URL_LENGTH,
                "pattern": f"^[^{_CONTROL_PATTERN}\\\\]+$"}


@dataclass(frozen=True)
class RtspUrl:
    """An rtsp:// or rtsps:// URL with a host."""

    def check(self, field: str, value: Any) -> str:
        """``value`` when it is a usable URL. :raises ConfigError:"""
        if not isinstance(value, str):
            raise ConfigError(field, "必须是字符串")
        if len(value) > MAX_URL_LENGTH:
            raise ConfigError(field, f"不能超过 {MAX_URL_LENGTH} 个字符")
        if not is_utf8_text(value):
            raise ConfigError(field, "含有无效的 Unicode 字符")
        problem = rtsp_url_problem(value)
        if problem:
            raise ConfigError(field, problem)
        return value

    def schema(self) -> dict:
        """The JSON-schema fragment of this rule."""
        schemes = "|".join(_any_case(scheme) for scheme in RTSP_SCHEMES)
        return {"type": "string", "maxLength": MAX_URL_LENGTH,
                "pattern": f"^({schemes})://[^/?#]"}


def plain_file_name_problem(value: Any, max_bytes: int = MAX_NAME_BYTES, why: str = "") -> str | None:
    """Why ``value`` is not a plain file name (no folder part) of ``max_bytes`` at most, or None.

    ``why`` explains a bound below the file system's own.
    """
    if not isinstance(value, str) or not value:
        return "必须是非空字符串"
    if not PLAIN_NAME_RE.fullmatch(value) or value in (".", "..") or value.startswith("."):
        return "必须是不含目录部分的普通文件名"
    if not is_utf8_text(value):
        return "含有无效的 Unicode 字符"
    if len(value.encode("utf-8")) > max_bytes:
        return f"不能超过 {max_bytes} 字节" + (f" ({why})" if why else "")
    return None


@dataclass(frozen=True)
class FileName:
    """A plain file name ending with one of ``suffixes`` (any case), not one of ``reserved``,
    with nothing in it that hides or turns text around (:func:`hides_text`, as a name).

    ``reserved``: the names of a cycle's other reports; ``why_max``: why
    ``max_bytes`` is below the file system's limit, if it is.
    """

    suffixes: tuple[str, ...]
    suffix_text: str
    max_bytes: int
    why_max: str = ""
    reserved: tuple[str, ...] = ()

    def check(self, field: str, value: Any) -> str:
        """``value`` when it is such a name. :raises ConfigError:"""
        problem = (plain_file_name_problem(value, self.max_bytes, self.why_max)
                   or hiding_problem(value))
        if problem:
            raise ConfigError(field, problem)
        lower = value.lower()
        if not any(lower.endswith(s) and len(value) > len(s) for s in self.suffixes):
            raise ConfigError(field, self.suffix_text)
        if value in self.reserved:
            raise ConfigError(field, "不能与报告文件同名")
        return value

    def schema(self) -> dict:
        """The JSON-schema fragment of this rule (its length in characters: at most its bytes)."""
        suffixes = "|".join(_any_case(s) for s in self.suffixes)
        ending = f"({suffixes})$" if len(self.suffixes) > 1 else f"{suffixes}$"
        return {"type": "string", "minLength": 1, "maxLength": self.max_bytes, "pattern": ending}


@dataclass(frozen=True)
class DisplayName:
    """Any text of 1 to ``high`` characters, not only white space, without control or invisible
    format characters (a camera's name)."""

    high: int

    def check(self, field: str, value: Any) -> str:
        """``value`` when it is such a text. :raises ConfigError:"""
        if not isinstance(value, str) or not value:
            raise ConfigError(field, "必须是非空字符串")
        if len(value) > self.high:
            raise ConfigError(field, f"不能超过 {self.high} 个字符")
        if _CONTROL_RE.search(value) or not is_utf8_text(value):
            raise ConfigError(field, "不能含有控制字符或无效的 Unicode 字符")
        if value.isspace():
            raise ConfigError(field, "不能只含空白字符")
        if problem := hiding_problem(value):
            raise ConfigError(field, problem)
        if all(ch.isspace() or draws_nothing(ch) for ch in value):
            raise ConfigError(field, "不能只含空白或不可见的字符")
        return value

    def schema(self) -> dict:
        """The JSON-schema fragment of this rule."""
        return {"type": "string", "minLength": 1, "maxLength": self.high,
                "pattern": _display_name_pattern()}


@dataclass(frozen=True)
class Flag:
    """``true`` or ``false``."""

    def check(self, field: str, value: Any) -> bool:
        """``value`` when it is a boolean. :raises ConfigError:"""
        if not isinstance(value, bool):
            raise ConfigError(field, "必须是 true 或 false")
        return value

    def schema(self) -> dict:
        """The JSON-schema fragment of this rule."""
        return {"type": "boolean"}
