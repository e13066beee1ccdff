"""Small, string-literal-aware rewrites of XPath expressions found in schematrons."""

from __future__ import annotations

import re
from functools import lru_cache
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


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def split_top_level(text: str, sep: str) -> list[str]:
    """Split on ``sep`` (one character) outside brackets, parentheses and string literals.

    Used by the kit-mode compiler (rule contexts, ``and``/``or`` operands) and by the
    datatype checks (context steps, a thousand paths read at each start): quoted strings
    are masked (same length), then only the brackets and separators are visited (one
    regular-expression scan), a split point being a separator at depth zero; an
    unterminated quote falls back to a character scanner.
    """
    masked = _QUOTED.sub(lambda m: "_" * len(m.group()), text) if ("'" in text or '"' in text) else text
    if "'" in masked or '"' in masked:
        return _split_scan(text, sep)
    if masked is text and not any(c in text for c in "[]()"):
        return text.split(sep)
    out, depth, start = [], 0, 0
    for m in _delimiters(sep).finditer(masked):
        ch = m.group()
        if ch == "[" or ch == "(":
            depth += 1
        elif ch == "]" or ch == ")":
            depth -= 1
        elif depth == 0:
            out.append(text[start:m.start()])
            start = m.end()
    out.append(text[start:])
    return out


@lru_cache(maxsize=8)
def _delimiters(sep: str) -> re.Pattern[str]:
    return re.compile(f"[\\[\\]()]|{re.escape(sep)}")


def _split_scan(text: str, sep: str) -> list[str]:
    out, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return out


def top_level_word(expr: str, word: str) -> list[str]:
    """Split on the operator ``and``/``or`` outside literals, brackets and parentheses."""
    marker = "\x00"
    masked = []
    for is_lit, piece in split_literals(expr):
        masked.append(piece if is_lit else re.sub(rf"(?<![\w.\-:$]){word}(?![\w.\-:])", marker, piece))
    return [part.replace(marker, f" {word} ") for part in split_top_level("".join(masked), marker)]


def step_predicates(alternative: str) -> list[str]:
    """The contents of the predicates at bracket depth 1 (those of the path's own steps)."""
    out, depth, start, paren = [], 0, 0, 0
    text = "".join("'" + "_" * (len(p) - 2) + "'" if lit else p for lit, p in split_literals(alternative))
    for i, ch in enumerate(text):
        if ch == "(":
            paren += 1
        elif ch == ")":
            paren -= 1
        elif ch == "[":
            if depth == 0 and paren == 0:
                start = i + 1
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0 and paren == 0:
                out.append(alternative[start:i])
    return out


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
