"""kguard: policy-as-code compliance scanner for Kubernetes."""

import re as _re
import sys as _sys

__version__ = "0.1.0"

# PyYAML's pure-Python reader compiles this character class when `yaml` is imported; kguard reads YAML with libyaml
# and never uses that reader. `re` spends ~50M instructions (a 16th of a pre-commit run) building the class's
# table; the same set written as the few ranges it leaves out compiles in a tenth of that.
PYYAML_NON_PRINTABLE = "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
NON_PRINTABLE_EXCLUDED = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]"


def _precompile_pyyaml_reader() -> None:
    """Put the cheaply compiled equivalent in `re`'s cache under PyYAML's pattern, so that importing yaml finds it.

    Both match the same code points (checked for all of them in tests/test_init.py). If PyYAML changes its pattern
    or `re` its cache, the entry is not used and yaml compiles its own: slower, never different.
    """
    cache = getattr(_re, "_cache", None)
    if "yaml" in _sys.modules or not isinstance(cache, dict):
        return
    cache[str, PYYAML_NON_PRINTABLE, 0] = _re.compile(NON_PRINTABLE_EXCLUDED)


_precompile_pyyaml_reader()
