"""The formula grammar's LALR parser, kept in a per-user cache so a new process need not build it.

Building Lark's LALR(1) tables for ``formula.lark`` takes ~25 ms, a tenth of a cold
``import lmerpy; lmer(...)``; loading them from the cache takes ~1.5 ms. The first process
builds the parser and writes its tables; later processes load them.

Where: ``$LMERPY_CACHE_DIR`` if set (an empty value turns the cache off), else the platform's
per-user cache directory: ``$XDG_CACHE_HOME/lmerpy`` or ``~/.cache/lmerpy`` (Linux and other
POSIX), ``~/Library/Caches/lmerpy`` (macOS), ``%LOCALAPPDATA%\\lmerpy\\Cache`` (Windows).

What: one JSON file per key, ``formula-<key>.json``. The key is a SHA-256 over this module's
format number, the grammar's text, the Lark version and the parser options, so a changed
grammar or another Lark gets its own file (several environments can share the directory);
the file repeats its key and is ignored unless it matches. The tables are Lark's own
serialisation (plain dicts, lists, strings and numbers) written as JSON: nothing is unpickled
and nothing in the file can run code. The file is used only when it and its directory belong
to the user and are not writable by group or others (POSIX).

Robustness: any failure to read (missing, corrupt, foreign, from an incompatible Lark) builds
the parser as before; any failure to write (read-only install or home, full disk) is silent.
The file is written to a temporary name in the same directory and renamed into place, so a
concurrent reader never sees half a file.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional

__all__ = ["cache_dir", "cache_path", "cached_lark", "FORMAT"]

#: bumped whenever the file layout below changes
FORMAT = 1
_TUPLE = "__lmerpy_tuple__"
_ITEMS = "__lmerpy_items__"


def cache_dir() -> Optional[Path]:
    """The directory of lmerpy's per-user cache, or None when it is turned off or unknown."""
    env = os.environ.get("LMERPY_CACHE_DIR")
    if env is not None:
        return Path(env).expanduser() if env.strip() else None
    try:
        if sys.platform == "win32":
            base = os.environ.get("LOCALAPPDATA")
            return Path(base) / "lmerpy" / "Cache" if base else None
        if sys.platform == "darwin":
            return Path.home() / "Library" / "Caches" / "lmerpy"
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        base_dir = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
        return base_dir / "lmerpy"
    except (RuntimeError, KeyError, OSError):  # no home directory
        return None


def _key(grammar: str, lark_version: str, options: Dict[str, Any]) -> str:
    text = json.dumps([FORMAT, lark_version, grammar, sorted((k, repr(v)) for k, v in options.items())])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def cache_path(grammar: str, lark_version: str, options: Dict[str, Any],
               directory: Optional[Path] = None) -> Optional[Path]:
    """The cache file for this grammar, Lark version and options (None: no cache)."""
    directory = cache_dir() if directory is None else directory
    if directory is None:
        return None
    return directory / f"formula-{_key(grammar, lark_version, options)}.json"


# --------------------------------------------------------------------------- JSON with tuples
# Lark's serialisation has tuples and dicts with integer keys, which JSON would turn into
# lists and string keys; both are tagged so the tables come back exactly.


def _encode(obj):
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, list):
        return [_encode(x) for x in obj]
    if isinstance(obj, tuple):
        return {_TUPLE: [_encode(x) for x in obj]}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__lmerpy_") for k in obj):
            return {k: _encode(v) for k, v in obj.items()}
        return {_ITEMS: [[_encode(k), _encode(v)] for k, v in obj.items()]}
    raise TypeError(f"not serialisable: {type(obj).__name__}")


def _decode_object(d):
    if len(d) == 1:
        if _TUPLE in d:
            return tuple(d[_TUPLE])
        if _ITEMS in d:
            return {(tuple(k) if isinstance(k, list) else k): v for k, v in d[_ITEMS]}
    return d


def _owned_and_private(path: Path) -> bool:
    """POSIX: the path belongs to this user and nobody else can write it."""
    if not hasattr(os, "geteuid"):
        return True
    st = path.stat()
    return st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read(path: Path, key: str) -> Optional[Dict[str, Any]]:
    try:
        if not (_owned_and_private(path.parent) and _owned_and_private(path)):
            return None
        with open(path, encoding="utf-8") as f:
            doc = json.load(f, object_hook=_decode_object)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("key") != key or not isinstance(doc.get("data"), dict):
        return None
    return doc


def _write(path: Path, key: str, data, memo) -> None:
    try:
        text = json.dumps({"key": key, "data": _encode(data), "memo": _encode(memo)},
                          separators=(",", ":"))
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _owned_and_private(path.parent):
            return
        fd, tmp = tempfile.mkstemp(prefix=".formula-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except (OSError, TypeError, ValueError):
        pass


def _serialisable_options(options: Dict[str, Any]) -> Dict[str, Any]:
    out = {}
    for name, value in options.items():
        try:
            _encode(value)
        except TypeError:
            continue  # e.g. the tree class: Lark restores its default
        out[name] = value
    return out


def cached_lark(grammar: str, transformer: Any = None, directory: Optional[Path] = None,
                **options: Any):
    """``lark.Lark(grammar, transformer=transformer, **options)`` for an LALR parser, its
    tables loaded from the per-user cache when there (``directory`` overrides
    :func:`cache_dir`), else built and written there.
    """
    import lark
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    path = cache_path(grammar, lark.__version__, options, directory)
    key = path.name[len("formula-"):-len(".json")] if path is not None else ""
    load = getattr(lark.Lark, "_load_from_dict", None)  # what lark's standalone parsers call
    if path is not None and load is not None:
        doc = _read(path, key)
        if doc is not None:
            try:
                return load(doc["data"], doc["memo"], transformer=transformer)
            except Exception:  # tables from an incompatible Lark: build below, rewrite the file
                pass
    parser = lark.Lark(grammar, transformer=transformer, **options)
    if path is not None and load is not None:
        try:
            data, memo = parser.memo_serialize([TerminalDef, Rule])
        except Exception:
            return parser
        if isinstance(data, dict) and isinstance(data.get("options"), dict):
            data = dict(data, options=_serialisable_options(data["options"]))
        _write(path, key, data, memo)
    return parser
