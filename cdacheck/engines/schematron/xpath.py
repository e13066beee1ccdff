"""Small, string-literal-aware rewrites of XPath expressions found in schematrons."""

from __future__ import annotations

import re
from collections.abc import Iterator

CX = "urn:cdacheck:schematron"

# doc(), document() and doc-available() become cx: functions that read pre-loaded
# documents first; a name preceded by a prefix other than fn:, by $ or by a name char is
# something else (a variable, cda:document, ...).
_DOC_CALL = re.compile(r"(?<![\w.\-:$])(?:fn:)?(doc-available|document|doc)(\s*\()")


def split_literals(expr: str) -> Iterator[tuple[bool, str]]:
    """Yield (is_literal, text) pieces; literals keep their quotes ('' and "" escapes)."""
    i, start, n = 0, 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch in ("'", '"'):
            if start < i:
                yield False, expr[start:i]
            j = i + 1
            while j < n:
                if expr[j] == ch:
                    if j + 1 < n and expr[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            yield True, expr[i:j + 1]
            i = start = j + 1
            continue
        i += 1
    if start < n:
        yield False, expr[start:]


def rewrite_doc_calls(expr: str) -> str:
    """``doc(x)`` -> ``cx:doc(x)`` (same for document and doc-available), outside literals."""
    if "doc" not in expr:
        return expr
    out = []
    for is_lit, piece in split_literals(expr):
        out.append(piece if is_lit else _DOC_CALL.sub(lambda m: f"cx:{m.group(1)}{m.group(2)}", piece))
    return "".join(out)


def string_literals(expr: str) -> list[str]:
    """The values of the string literals of an expression."""
    values = []
    for is_lit, piece in split_literals(expr):
        if is_lit and len(piece) >= 2:
            q = piece[0]
            values.append(piece[1:-1].replace(q + q, q))
    return values


def avt_escape(text: str) -> str:
    """Make a literal string safe as an XSLT attribute value template."""
    return text.replace("{", "{{").replace("}", "}}")
