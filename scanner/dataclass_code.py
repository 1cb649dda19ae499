"""The compiled methods of dataclasses, remembered across runs of the console script (`scanner.entry`).

`dataclasses` writes the source of each method it generates (`__init__`, `__repr__`, `__eq__`, `__hash__`,
`__setattr__`, ...) and compiles it with `exec`, class by class, on every import: the ~70 dataclasses a pre-commit
run imports cost ~330 compilations, a fifth of the run's instructions. `install` gives the `dataclasses` module an
`exec` of its own that looks each source text up in a dict of code objects kept in the user cache (`user_cache`;
one entry per Python build, marshalled) and compiles only texts it has not seen; `save` stores the new ones.

The code object is what compiling that text gives anywhere (`compile(text, "<string>", "exec")`, no inherited
`__future__` flags, as `exec` compiles in `dataclasses`), so a cached method is the method: the tests compare every
method of kguard's dataclasses with and without the cache. A missing, corrupt or foreign entry is a miss. Only the
console script installs it; library callers keep `dataclasses` as it is.
"""

from __future__ import annotations

import builtins
import marshal
import sys
from types import CodeType
from typing import Any

NAMESPACE = "dataclass-code"  # user cache namespace
FORMAT = "kguard dataclass code 1"
MAX_TEXTS = 4096  # beyond this many texts, an update keeps only those of the current run

_cached: dict[str, CodeType] = {}
_new: dict[str, CodeType] = {}
_used: set[str] = set()
_loaded = False


def _entry() -> str:
    from scanner import user_cache

    return user_cache.key(FORMAT, sys.version, sys.implementation.cache_tag or "", str(marshal.version))


def _load() -> None:
    global _loaded
    _loaded = True
    from scanner import user_cache

    data = user_cache.get(NAMESPACE, _entry())
    if data is None:
        return
    try:
        texts = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return
    if isinstance(texts, dict):
        _cached.update((text, code) for text, code in texts.items()
                       if type(text) is str and type(code) is CodeType)


def _exec(source: Any, globals: dict[str, Any] | None = None, locals: dict[str, Any] | None = None) -> None:
    """`exec` as `dataclasses` calls it, with the code object of a source text it has compiled before."""
    if type(source) is not str:
        return builtins.exec(source, globals, locals)
    if not _loaded:
        _load()
    code = _cached.get(source) or _new.get(source)
    if code is None:
        code = _new[source] = compile(source, "<string>", "exec", dont_inherit=True)
    _used.add(source)
    return builtins.exec(code, globals, locals)


def install() -> None:
    """Make `dataclasses` compile each method's source once per user cache (until `uninstall`)."""
    import dataclasses

    dataclasses.exec = _exec  # type: ignore[attr-defined]  # a module global shadows the built-in


def uninstall() -> None:
    """`dataclasses` as it was; what was compiled meanwhile stays in memory until `save`."""
    import dataclasses

    if getattr(dataclasses, "exec", None) is _exec:
        del dataclasses.exec  # type: ignore[attr-defined]


def save() -> None:
    """Store the texts compiled in this run beside those already cached (only when there are new ones)."""
    if not _new:
        return
    from scanner import user_cache

    texts = {**_cached, **_new}
    if len(texts) > MAX_TEXTS:
        texts = {text: code for text, code in texts.items() if text in _used}
    user_cache.put(NAMESPACE, _entry(), marshal.dumps(texts))
    _cached.update(_new)
    _new.clear()


def compiled_here() -> int:
    """How many method sources this process has compiled (not found in the cache) since it last saved."""
    return len(_new)
