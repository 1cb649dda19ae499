"""Round-trip YAML editing (ruamel.yaml) that leaves every untouched line byte-for-byte as it was.

ruamel keeps comments, key order and quoting, but its output can still differ from the file in ways nobody asked
for (a long line folded, another list indentation). So the edited documents are dumped twice, as they were and as
edited, and only the lines that differ between those two dumps are spliced into the original text. ruamel is
imported here only: the scan and the pre-commit hook never load it.
"""

from __future__ import annotations

import difflib
import io
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scanner.errors import KguardError
from scanner.model import FieldPath


class YamlEditError(KguardError):
    """The file could not be read or edited as YAML."""


def _yaml(text: str) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    mapping, sequence, offset = guess_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.explicit_start = text.lstrip().startswith("---")
    return yaml


def guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as ruamel names them, from the first nested blocks."""
    mapping = offset = None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for line, following in itertools.pairwise(lines):
        if not re.match(r"^\s*(- )?[^\s#][^:]*:\s*$", line):
            continue
        own = len(line) - len(line.lstrip(" ")) + (2 if line.lstrip().startswith("- ") else 0)
        inner = len(following) - len(following.lstrip(" "))
        if following.lstrip().startswith("- ") and offset is None and inner >= own:
            offset = inner - own
        elif not following.lstrip().startswith("- ") and mapping is None and inner > own:
            mapping = inner - own
        if mapping is not None and offset is not None:
            break
    if offset is None and lines and lines[0].startswith("- "):
        offset = 0  # a top-level list (a JSON6902 patch file) written flush left
    mapping = mapping or 2
    offset = offset if offset is not None else 2
    return mapping, offset + 2, offset


class YamlFile:
    """A YAML file's documents, loaded round-trip, and the text after editing them."""

    def __init__(self, path: Path, text: str | None = None) -> None:
        self.path = path
        try:
            self.original = path.read_text(encoding="utf-8") if text is None else text
        except (OSError, UnicodeDecodeError) as exc:
            raise YamlEditError(f"{path}: cannot read ({exc})") from None
        self._yaml = _yaml(self.original)
        try:
            self.docs = list(self._yaml.load_all(self.original))
        except Exception as exc:  # ruamel raises many error types; one line naming the file is what we want
            raise YamlEditError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        self._unchanged = self._dump()

    def _dump(self) -> str:
        out = io.StringIO()
        self._yaml.dump_all(self.docs, out)
        return out.getvalue()

    def objects(self) -> Iterator[tuple[int, FieldPath, Any]]:
        """(document index, path inside it, object) for every mapping document and every `kind: *List` item."""
        for index, doc in enumerate(self.docs):
            if not isinstance(doc, dict):
                continue
            items = doc.get("items")
            if str(doc.get("kind", "")).endswith("List") and isinstance(items, list):
                for i, item in enumerate(items):
                    if isinstance(item, dict):
                        yield index, ("items", i), item
                continue
            yield index, (), doc

    def text(self) -> str:
        """The edited file: the original text with only the changed lines replaced."""
        edited = self._dump()
        if edited == self._unchanged:
            return self.original
        if self._unchanged == self.original:
            return edited
        spliced = splice(self.original, self._unchanged, edited)
        return edited if spliced is None else spliced


def splice(original: str, before: str, after: str) -> str | None:
    """Apply the line changes ``before`` -> ``after`` to ``original`` (``before`` is ``original`` as re-dumped);
    None when a changed line cannot be placed in ``original``."""
    orig, old, new = (t.splitlines(keepends=True) for t in (original, before, after))
    to_orig: dict[int, int] = {}
    for block in difflib.SequenceMatcher(None, orig, old, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            to_orig[block.b + k] = block.a + k
    out: list[str] = []
    cursor = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i1 < i2:
            if any(i not in to_orig for i in range(i1, i2)):
                return None
            mapped = [to_orig[i] for i in range(i1, i2)]
            if mapped != list(range(mapped[0], mapped[0] + len(mapped))):
                return None
            start, end = mapped[0], mapped[-1] + 1
        else:  # an insertion: the line above must be the original's (it is the parent key or a sibling)
            above = to_orig.get(i1 - 1, -1) if i1 else -1
            below = to_orig.get(i1, len(orig)) if i1 < len(old) else len(orig)
            if (i1 and i1 - 1 not in to_orig) or (i1 < len(old) and i1 not in to_orig) or below != above + 1:
                return None
            start = end = above + 1
        if start < cursor:
            return None
        out.extend(orig[cursor:start])
        out.extend(new[j1:j2])
        cursor = end
    out.extend(orig[cursor:])
    return "".join(out)


def new_map(value: Any = None) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, dict):
        out = CommentedMap()
        for key, item in value.items():
            out[key] = new_map(item)
        return out
    if isinstance(value, list):
        seq = CommentedSeq()
        seq.extend(new_map(item) for item in value)
        return seq
    return value


def descend(node: Any, keys: FieldPath, *, create: bool) -> Any:
    """The node at ``keys`` below ``node``, creating mappings for missing keys when ``create``; None if absent."""
    for key in keys:
        if isinstance(key, int):
            if not isinstance(node, list) or key >= len(node):
                return None
            node = node[key]
        elif isinstance(node, dict):
            if key not in node or node[key] is None:
                if not create:
                    return None
                node[key] = new_map({})
            node = node[key]
        else:
            return None
    return node
