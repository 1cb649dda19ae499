"""scanner/__init__.py: importing PyYAML after kguard finds its reader's character class precompiled, and that
class matches exactly the code points PyYAML's own does."""

import subprocess
import sys

import scanner

EVERY_CODE_POINT = "".join(map(chr, range(0x110000)))


def _matched(pattern: str) -> list[int]:
    import re

    return [m.start() for m in re.compile(pattern).finditer(EVERY_CODE_POINT)]


def test_the_precompiled_class_matches_the_same_code_points_as_pyyamls():
    excluded = _matched(scanner.NON_PRINTABLE_EXCLUDED)
    assert excluded == _matched(scanner.PYYAML_NON_PRINTABLE)
    assert 0 in excluded and 0x85 not in excluded and 0xD800 in excluded and 0x10FFFF not in excluded


def _reader_pattern(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code + "\nimport yaml.reader\n"
                           "print(ascii(yaml.reader.Reader.NON_PRINTABLE.pattern))"],
                          capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


def test_pyyaml_compiles_the_pattern_kguard_names_and_uses_the_precompiled_one_after_kguard():
    assert _reader_pattern("") == ascii(scanner.PYYAML_NON_PRINTABLE)  # PyYAML's own, when imported alone
    assert _reader_pattern("import scanner") == ascii(scanner.NON_PRINTABLE_EXCLUDED)
