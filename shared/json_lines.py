"""Find the line of a field (``streams[1].weight``) in JSON text, to point hand editors at it."""
from __future__ import annotations


def _path(stack: list[list]) -> str:
    out = ""
    for kind, key in stack:
        if kind == "arr":
            out += f"[{key}]"
        elif key is not None:
            out += ("." if out else "") + key
    return out


def field_lines(text: str) -> dict[str, int]:
    """Map every key path and container in ``text`` to the 1-based line where it starts.

    Tolerant by design: it is only used to annotate errors, so on malformed
    input it returns what it found so far.
    """
    lines: dict[str, int] = {}
    stack: list[list] = []
    expecting_key = False
    line, i, n = 1, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
        elif ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if stack and stack[-1][0] == "obj" and expecting_key:
                stack[-1][1] = text[i + 1:j]
                lines.setdefault(_path(stack), line)
                expecting_key = False
            line += text.count("\n", i, j)
            i = j
        elif ch in "{[":
            if stack:
                lines.setdefault(_path(stack), line)
            stack.append(["obj", None] if ch == "{" else ["arr", 0])
            expecting_key = ch == "{"
        elif ch in "}]":
            if stack:
                stack.pop()
        elif ch == "," and stack:
            if stack[-1][0] == "obj":
                expecting_key = True
            else:
                stack[-1][1] += 1
        i += 1
    return lines


def line_of(text: str, field: str) -> int | None:
    """The line of ``field`` in ``text``, or of its nearest enclosing container."""
    lines = field_lines(text)
    while field:
        if field in lines:
            return lines[field]
        cut = max(field.rfind("."), field.rfind("["))
        field = field[:cut] if cut > 0 else ""
    return None
