"""JSON as we read it from a client or a hand edit: numbers JSON has, of a sane length.

Python's ``json`` accepts ``NaN`` and ``Infinity`` (JSON does not), and an integer of any
length up to Python's own limit of 4,300 digits, past which its error quotes Python
(``sys.set_int_max_str_digits``). Both are refused here with our own words.
"""
from __future__ import annotations

import json
from typing import Any

# Far above any value a config holds (the bounds are checked after); far below Python's limit.
MAX_INTEGER_DIGITS = 100


def _reject_constant(name: str) -> None:
    raise ValueError(f"不支持的数值 {name}")


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"整数不能超过 {MAX_INTEGER_DIGITS} 位")
    return int(text)


def loads(text: str) -> Any:
    """``json.loads`` of ``text``. :raises json.JSONDecodeError, ValueError, RecursionError:"""
    return json.loads(text, parse_constant=_reject_constant, parse_int=_integer)
