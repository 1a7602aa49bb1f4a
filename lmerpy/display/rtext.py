"""R's text helpers used by lme4's printing: ``abbreviate()``, ``strwrap()``, ``cat(fill=)``,
``make.names(unique = TRUE)`` and ``format()`` of character vectors.

Widths are counted in characters (R counts display width; the two agree for the ASCII and
Latin text of model names and for the curly quotes of the significance legend).
"""
from __future__ import annotations

import re
from typing import List, Optional, Sequence, Union

__all__ = ["abbreviate", "strwrap", "cat", "make_names", "format_strings", "paste_r",
           "deparse_lines"]

_R_RESERVED = {
    "if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE", "NULL",
    "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "NA_complex_", "in",
}


# --------------------------------------------------------------------------- abbreviate


def _strip_chars(word: str, minlength: int, use_classes: bool = True) -> str:
    """R's C routine behind ``abbreviate()``: drop lower-case vowels from the end, then other
    lower-case letters, then anything, never touching the first character of a word."""
    s = list(word)
    if len(s) < minlength:
        return _drop_inner_spaces(s, minlength)
    nspace = 0

    def short_enough():
        return len(s) - nspace <= minlength

    def first_char(i):          # s[i] starts a word
        return s[i - 1].isspace()

    def last_char(i):           # s[i] ends a word
        return (not s[i - 1].isspace()) and (i + 1 >= len(s) or s[i + 1].isspace())

    # trailing spaces are removed, inner ones counted (they delimit words)
    trailing = True
    for i in range(len(s) - 1, 0, -1):
        if s[i].isspace():
            if trailing:
                del s[i]
            else:
                nspace += 1
        else:
            trailing = False
        if short_enough():
            return _drop_inner_spaces(s, minlength)

    def sweep(pred):
        for i in range(len(s) - 1, 0, -1):
            if i < len(s) and pred(i):
                del s[i]
            if short_enough():
                return True
        return False

    vowels = set("aeiou")
    if use_classes:
        if sweep(lambda i: s[i] in vowels and last_char(i)):
            return _drop_inner_spaces(s, minlength)
        if sweep(lambda i: s[i] in vowels and not first_char(i)):
            return _drop_inner_spaces(s, minlength)
        if sweep(lambda i: s[i].islower() and s[i].isascii() and last_char(i)):
            return _drop_inner_spaces(s, minlength)
        if sweep(lambda i: s[i].islower() and s[i].isascii() and not first_char(i)):
            return _drop_inner_spaces(s, minlength)
    sweep(lambda i: not first_char(i) and not s[i].isspace())
    return _drop_inner_spaces(s, minlength)


def _drop_inner_spaces(s: List[str], minlength: int) -> str:
    if len(s) > minlength:
        s = [s[0]] + [c for c in s[1:] if not c.isspace()]
    return "".join(s)


def abbreviate(names: Sequence[str], minlength: int = 4, use_classes: bool = True,
               strict: bool = False) -> List[str]:
    """R's ``abbreviate(names.arg, minlength)`` (method ``"left.kept"``).

    Abbreviations are made unique by lengthening the clashing ones, as R does; duplicated
    inputs get the same abbreviation.

    Examples
    --------
    >>> abbreviate(["(Intercept)", "period2"], minlength=6)
    ['(Intr)', 'perid2']
    """
    if minlength <= 0:
        return ["" for _ in names]
    old = [re.sub(r"^ +", "", re.sub(r" +$", "", str(n))) for n in names]
    uniq = list(dict.fromkeys(old))
    x = list(uniq)
    if strict:
        x = [_strip_chars(v, minlength, use_classes) for v in uniq]
    else:
        dup2 = [True] * len(uniq)
        ml = minlength
        while True:
            these = [uniq[i] for i in range(len(uniq)) if dup2[i]]
            ans = [_strip_chars(v, ml, use_classes) for v in these]
            it = iter(ans)
            for i in range(len(uniq)):
                if dup2[i]:
                    x[i] = next(it)
            seen = set()
            dupl = []
            for v in x:
                dupl.append(v in seen)
                seen.add(v)
            if not any(dupl):
                break
            ml += 1
            clash = {x[i] for i in range(len(x)) if dupl[i]}
            dup2 = [dupl[i] or x[i] in clash for i in range(len(x))]
    table = dict(zip(uniq, x))
    return [table[v] for v in old]


# --------------------------------------------------------------------------- strwrap


def strwrap(x: str, width: int, indent: int = 0, exdent: int = 0, prefix: str = "",
            initial: Optional[str] = None) -> List[str]:
    """R's ``strwrap(x, width, indent, exdent, prefix)`` for one string.

    Lines are filled greedily so that each is shorter than ``width``; a sentence end followed
    by two spaces keeps its double space, as in R.
    """
    if initial is None:
        initial = prefix
    out: List[str] = []
    for para in re.split(r"\n[ \t\n]*\n", x):
        words = re.split(r"[ \t\n]", para)
        if words and words[-1] == "":       # R's strsplit drops one trailing empty piece
            words = words[:-1]
        words = [w for k, w in enumerate(words)
                 if w != "" or (k > 0 and re.search(r"[.?!][)\"']{0,1}$", words[k - 1]))]
        if not words:
            out.extend(["", initial])
            initial = prefix
            continue
        nc = [len(w) for w in words]
        lines = []
        start = 0
        max_len = width - len(initial) - indent
        first = True
        while start < len(words):
            total, k = 0, 0
            for j in range(start, len(words)):
                total += nc[j] + 1
                if total > max_len:
                    break
                k += 1
            k = max(k, 1)
            if first:
                first = False
                max_len = width - len(prefix) - exdent
            end = start + k
            upper = end - 1 if nc[end - 1] == 0 else end
            nxt = end + 1 if (end < len(words) and nc[end] == 0) else end
            lines.append(" ".join(words[start:upper]))
            start = nxt
        for i, ln in enumerate(lines):
            lead = (initial + " " * indent) if i == 0 else (prefix + " " * exdent)
            out.append(lead + ln)
        out.append(prefix)
        initial = prefix
    return out[:-1] if out else out


# --------------------------------------------------------------------------- cat


def cat(*items: Union[str, Sequence[str]], sep: str = " ", fill: Union[bool, int] = False,
        width: int = 80) -> str:
    """R's ``cat(..., sep, fill)``: the exact text printed (including the final newline that
    ``fill`` or a separator containing a newline adds).

    Each item is a string or a sequence of strings (an R character vector); numbers must be
    formatted by the caller (``cat`` shows doubles with :func:`~.rformat.format_number`).
    With ``fill``, a new line is started before an element that would pass the fill width.
    """
    if fill is True:
        pwidth = width
    elif fill is False or fill is None:
        pwidth = None
    else:
        pwidth = int(fill)
    buf: List[str] = []
    col = 0
    sepw = len(sep.encode("utf-8"))

    def too_wide(w):
        return pwidth is not None and col + w + sepw > pwidth

    for iobj, item in enumerate(items):
        elems = [item] if isinstance(item, str) else list(item)
        if iobj != 0:
            buf.append(sep)
        if not elems:
            continue
        w = len(elems[0].encode("utf-8"))
        if iobj > 0 and too_wide(w):
            buf.append("\n")
            col = 0
        for i, p in enumerate(elems):
            buf.append(p)
            col += len(p.encode("utf-8")) + sepw
            if i < len(elems) - 1:
                buf.append(sep)
                nw = len(elems[i + 1].encode("utf-8"))
                if too_wide(nw):
                    buf.append("\n")
                    col = 0
    if pwidth is not None or "\n" in sep:
        buf.append("\n")
    return "".join(buf)


# --------------------------------------------------------------------------- names, strings


def make_names(names: Sequence[str], unique: bool = False) -> List[str]:
    """R's ``make.names(names, unique)``: syntactically valid names; with ``unique``, later
    duplicates get ``.1``, ``.2``, ... (R's ``make.unique``)."""
    out = []
    for n in names:
        v = re.sub(r"[^A-Za-z0-9._]", ".", str(n))
        if v == "" or not (v[0].isalpha() or (v[0] == "." and not (len(v) > 1 and v[1].isdigit()))):
            v = "X" + v
        if v in _R_RESERVED:
            v = v + "."
        out.append(v)
    if unique:
        seen = {}
        used = set(out)
        res = []
        for v in out:
            if v not in seen:
                seen[v] = 0
                res.append(v)
                continue
            cnt = seen[v]
            while True:
                cnt += 1
                cand = f"{v}.{cnt}"
                if cand not in used:
                    break
            seen[v] = cnt
            used.add(cand)
            res.append(cand)
        # R keeps the first occurrence unchanged and renames later ones
        out = res
    return out


def format_strings(x: Sequence[str], justify: str = "left", width: int = 0) -> List[str]:
    """R's ``format()`` of a character vector: pad to a common width (``justify`` is
    ``"left"``, ``"right"``, ``"centre"`` or ``"none"``)."""
    xs = ["NA" if v is None else str(v) for v in x]
    if justify == "none":
        return xs
    w = max([width] + [len(v) for v in xs])
    out = []
    for v in xs:
        b = w - len(v)
        if justify == "left":
            out.append(v + " " * b)
        elif justify == "right":
            out.append(" " * b + v)
        else:
            out.append(" " * (b // 2) + v + " " * (b - b // 2))
    return out


def paste_r(*parts: Union[str, Sequence[str]], sep: str = " ", collapse: Optional[str] = None):
    """R's ``paste()``: vectors recycled; a zero-length argument becomes ``""``."""
    vecs = [[p] if isinstance(p, str) else (list(p) if len(p) else [""]) for p in parts]
    n = max(len(v) for v in vecs) if vecs else 0
    res = [sep.join(v[i % len(v)] for v in vecs) for i in range(n)]
    return collapse.join(res) if collapse is not None else res


# --------------------------------------------------------------------------- deparse


_SPACED_OPS = {"+", "-", "*", "~", "|", "||", "&", "&&", "==", "!=", "<", ">", "<=", ">=",
               "<-", "->"}


def deparse_lines(text: str, cutoff: int = 60, indent: str = "    ") -> List[str]:
    """Split a one-line deparsed R expression (a formula) into the lines R's ``deparse()``
    gives: after a spaced binary operator (``" + "``, ``" ~ "``, ``" | "``...) or an
    argument comma, the line is ended once it is longer than ``cutoff`` (R's
    ``width.cutoff = 60``), and continuation lines are indented by four spaces.

    Examples
    --------
    >>> deparse_lines("y ~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11 + x12 + (1 | g)")
    ['y ~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11 + ', '    x12 + (1 | g)']
    """
    lines: List[str] = []
    cur = ""
    i, n = 0, len(text)
    quote = None
    while i < n:
        c = text[i]
        cur += c
        i += 1
        if quote:
            if c == "\\" and i < n:
                cur += text[i]
                i += 1
            elif c == quote:
                quote = None
            continue
        if c in "\"'`":
            quote = c
            continue
        brk = False
        if c == "," and i < n and text[i] == " ":
            cur += " "
            i += 1
            brk = True
        elif c == " " and i < n:
            # cur ends with " op " ?
            m = re.search(r" (%[^%]*%|[^\sA-Za-z0-9_.()\[\]{},\"'`]+) $", cur)
            if m and (m.group(1) in _SPACED_OPS or m.group(1).startswith("%")) \
                    and len(cur) - len(m.group(0)) > 0:
                brk = True
        if brk and len(cur) > cutoff:
            lines.append(cur)
            cur = indent
    lines.append(cur)
    return lines
