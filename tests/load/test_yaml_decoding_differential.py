"""kguard decodes YAML to the same JSON as Kubernetes (sigs.k8s.io/yaml.YAMLToJSON), checked against the real Go code.

``kguard-yaml-reference`` (built by scripts/build-reference-tools.sh) reads a YAML stream on stdin, splits it into
documents like kubectl and prints one line per document: ``{"json": <value>}`` or ``{"error": "<message>"}``. Every
case below is one document; kguard must give the identical JSON value (integers stay integers, floats stay floats)
or, where Go refuses the document, an error for that document only.
"""

from __future__ import annotations

import json
import random
import subprocess
from itertools import product

import pytest

from scanner.load.yaml_source import Document, YamlLoadError, parse_stream
from tests.fixtures.tools import require_tool

pytestmark = pytest.mark.integration

BOOL_WORDS = ["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False",
              "FALSE", "on", "On", "ON", "off", "Off", "OFF"]
NULL_WORDS = ["~", "null", "Null", "NULL", ""]
NEAR_WORDS = ["yEs", "yeS", "tRUE", "fALSE", "oN", "oFF", "nO", "nULL", "NuLL", "Nope", "ye", "yess", "t", "f", "T",
              "F", "o", "O", "nan", "NaN", "inf", "Inf", "Infinity", "-inf", "+inf", "<<", "=", "-", "+", ".", "..",
              "+-1", "--1", "_1", "1_", "1__0", "0_7"]
INTS = ["0", "00", "01", "07", "08", "09", "0777", "0o777", "0O777", "0o8", "0o", "0x1F", "0X1f", "0x", "0xg",
        "0x_1F", "0b101", "0B101", "0b102", "0b", "-0b101", "+0b101", "0b-1", "0b+1", "-0b-1", "+1", "-1", "+0", "-0",
        "1_000", "1,000", "-0x1F", "+0x1F", "-0o17", "0x7FFFFFFFFFFFFFFF", "0x8000000000000000",
        "0xFFFFFFFFFFFFFFFF", "0x10000000000000000", "9223372036854775807", "9223372036854775808",
        "-9223372036854775808", "-9223372036854775809", "18446744073709551615", "18446744073709551616",
        "-18446744073709551616", "99999999999999999999999", "0" * 30 + "1", "1" + "0" * 400, "1" * 5000,
        "0b" + "1" * 64, "0b" + "1" * 65, "-0b" + "1" * 63, "1:20", "1:20:30", "190:20:30.15", "-1:20", "1_2_3_4"]
FLOATS = ["1e3", "1E3", "1e+3", "1e-3", "1.0", "1.", "1.5", ".5", "-.5", "+.5", ".5_5", "._5", ".5e3", ".5e", ".e3",
          "1_000.5", "1e400", "-1e400", "1e+400", "1e-400", ".1e-400", "0.0", "-0.0", "+0.0", "1e21", "1e20",
          "-1e21", "123456789012345678901234.0", "3.14", "0.1", "1e-7", "0.000001", "1e-6", "12e", "1.2.3", "1e1.5",
          "2.5e-310", "1.7976931348623157e308", "1.7976931348623159e308", "0x1p3", "1_0e1_0", ".inf", ".Inf",
          ".INF", ".iNf", "+.inf", "+.Inf", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", ".nAn", "6.8523015e+5",
          "685.230_15e+03", "685_230.15", "-1.5e-5", "9007199254740993", "9007199254740993.0"]
TIMESTAMPS = ["2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14T21:59:43.10Z", "2001-12-14 21:59:43.10",
              "2001-12-14 21:59:43.10 -5", "2002-12-14", "2001-13-14", "2001-1-2", "20011-12-14", "2001-12-14T25:00:00Z",
              "2001-02-29", "2000-02-29"]
STRINGS = ["hello", "a b", "-a", "+a", "0a", "1a", "1 2", "12:30", "#1", "1#2", "x:y", "é", "١٢", "\uff11", "0.0.0.0",
           "v1", "apps/v1", "true1", "yes!", "Off-line", "n/a"]
PLAIN = [*BOOL_WORDS, *NULL_WORDS, *NEAR_WORDS, *INTS, *FLOATS, *TIMESTAMPS, *STRINGS]

TAGS = ["!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp", "!!binary", "!!set", "!!map", "!!seq",
        "!!merge", "!foo", "!", "!<tag:yaml.org,2002:int>", "!!omap"]
TAGGED_VALUES = ["1", "''", "abc", "1.5", "yes", "~", "0x1F", "18446744073709551615", ".inf", "2001-01-01",
                 "2001-13-01", "aGVsbG8=", "abc=", "4oI=", "/w==", "'  '", '"12"', "1_0"]
KEYS = ["on", "y", "n", "off", "yes", "1", "-1", "007", "0x10", "1_0", "1.5", "0.1", "3.14159265358979", "1e3", "1e6",
        "1e40", "-1e40", "1e-40", "1.0", "-0.0", "123456789.5", ".inf", "-.inf", ".nan", "~", "null", "",
        "18446744073709551615", "9223372036854775808", "2001-01-01", "true", "'on'", '"1"', "!!str 1", "!!binary aGk=",
        "!!int '7'", "1e400", "<<"]


def _mapping_key(key: str) -> str:
    return f"? {key}\n: v\n" if key in ("", "~") or key.startswith(("!", "'", '"')) else f"{key}: v\n"


def _random_scalars(count: int = 400, seed: int = 11) -> list[str]:
    """Deterministic short tokens over the characters that steer number, bool and null resolution."""
    rng = random.Random(seed)
    alphabet = "0123456789+-._eExXoObBaAfF:yYnN~"
    tokens: list[str] = []
    while len(tokens) < count:
        token = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        if token not in PLAIN and token not in tokens and token != "-" and not token.startswith(":"):
            tokens.append(token)
    return tokens


CASES: list[str] = [
    *(f"v: {value}\n" for value in _random_scalars()),
    *(f"v: {value}\n" for value in ["1e16", "1.5e300", "-2.5e-8", "123456789012345678", "4.9e-324", "1e-5"]),
    *(f"v: {value}\n" for value in PLAIN),
    *(f"v: '{value}'\n" for value in BOOL_WORDS + INTS[:20] + FLOATS[:10]),
    *(f'v: "{value}"\n' for value in [*BOOL_WORDS[:6], "\\x41", "\\u00e9", "\\0", "\\N", "1\\n2"]),
    *(f"v: {tag} {value}\n" for tag, value in product(TAGS, TAGGED_VALUES)),
    *(_mapping_key(key) for key in KEYS),
    "v: [y, n, on, off, 1e3, 0x10, ~]\n",
    "v: {y: n, on: off}\n",
    "v: &a 1\nw: *a\n",
    "v: &a {x: 1, y: 2}\nw:\n  <<: *a\n  y: 3\n",
    "w:\n  y: 0\n  <<: {y: 3}\n",
    "v: &a {x: 1}\nu: &b {x: 2, z: 1}\nw:\n  <<: [*a, *b]\n",
    "v: &a [1]\nw:\n  <<: *a\n",
    "w:\n  <<: 1\n",
    "w:\n  '<<': {x: 1}\n",
    "w:\n  !!merge <<: {x: 1}\n",
    "v: &a [*a]\n",
    "v: *undefined\n",
    "{{HF_TOKEN}}: x\n",
    "token: {{HF_TOKEN}}\n",
    "? [a]\n: 1\n",
    "? {a: 1}\n: 1\n",
    "v: |\n  text\n  more\n",
    "v: >\n  folded\n  text\n",
    "v: 1\nv: 2\n",
    "v: [\n",
    "v:\n\t- tab\n",
    "v: 'unterminated\n",
    "42\n",
    "[1, 2]\n",
    "just text\n",
    "v: 1\n...\nw: 2\n",
    '{"v": 1.0, "w": 1e2, "x": [true, null]}\n',
]


def _kguard(case: str) -> object:
    items = [item for item in parse_stream(case) if isinstance(item, Document | YamlLoadError)]
    if not items:
        return {"json": None}
    (item,) = items
    if isinstance(item, YamlLoadError):
        return {"error": item.message}
    assert isinstance(item, Document)
    return {"json": item.value}


def _strict(value: object) -> str:
    """JSON text that tells 1 from 1.0 and True from 1."""
    return json.dumps(value, sort_keys=True)


def reference_results(tool: str, cases: list[str]) -> list[dict]:
    stream = "".join(f"---\n{case}" for case in cases)
    completed = subprocess.run([tool], input=stream.encode(), capture_output=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr.decode()
    lines = completed.stdout.decode().split("\n")[:-1]  # "\N" decodes to U+0085: not a line break here
    assert len(lines) == len(cases), f"{len(lines)} results for {len(cases)} documents"
    return [json.loads(line) for line in lines]


def differences(tool: str, cases: list[str] = CASES) -> list[str]:
    """Every case where kguard and Go disagree, readable."""
    found = []
    for case, go in zip(cases, reference_results(tool, cases), strict=True):
        ours = _kguard(case)
        if "error" in go:
            if "error" not in ours:
                found.append(f"{case!r}: Go refuses ({go['error']}), kguard gives {_strict(ours['json'])}")
        elif "error" in ours:
            found.append(f"{case!r}: Go gives {_strict(go['json'])}, kguard refuses ({ours['error']})")
        elif _strict(go["json"]) != _strict(ours["json"]):
            found.append(f"{case!r}: Go gives {_strict(go['json'])}, kguard {_strict(ours['json'])}")
    return found


def test_the_table_is_big_enough():
    assert len(CASES) >= 300
    assert len(set(CASES)) == len(CASES)


def test_every_case_decodes_as_kubernetes_decodes_it():
    tool = require_tool("kguard-yaml-reference")
    assert differences(str(tool)) == []


STREAMS = ["a: 1\n---\n---\nb: 2\n", "# only comment\n---\na: 1\n", "a: 1\n...\nb: 2\n", "---\na: 1\r---\nb: 2\n",
           "a: 1\n--- # c\nb: 2\n", "%YAML 1.1\n---\na: 1\n", "a: [\n---\nb: 1\n", "---\n", "", "\n\n",
           "~\n---\nnull\n---\na: 1\n", "a: 1\r\n---\r\nb: 2\r\n", "\ufeffa: 1\n---\nb: 2\n", "a: 1\n---\n\ufeffb: 2\n",
           "a: |\n  x\n---\nb: 2", "a: 'x\n---\ny'\n", "- 1\n- 2\n---\n3\n", "a: 1\n...\n---\nb: 2\n",
           "a: 1\n... # end\n", "---\t\na: 1\n", "a: 1\n---\n# just a comment\n---\nb: 2\n"]
# kubectl stops reading the whole stream at a bad separator; kguard reports it at its line and reads on (exit 2 all
# the same, and nothing kubectl would apply goes unscanned).
BAD_SEPARATORS = ["a: 1\n--- x\nb: 2\n---\nc: 3\n", "a: 1\n----\nb: 2\n", "--- |\n  text\n"]


def _kguard_stream(stream: str) -> list[dict]:
    return [{"json": item.value} if isinstance(item, Document) else {"error": item.message}
            for item in parse_stream(stream) if isinstance(item, Document | YamlLoadError)]


def _reference_stream(tool: str, stream: str) -> list[dict]:
    completed = subprocess.run([tool], input=stream.encode(), capture_output=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr.decode()
    results = [json.loads(line) for line in completed.stdout.decode().split("\n") if line]
    return [result for result in results if result != {"json": None}]  # kubectl skips empty documents too


def _shape(results: list[dict]) -> list[str]:
    return ["error" if "error" in result else _strict(result["json"]) for result in results]


@pytest.mark.parametrize("stream", STREAMS)
def test_streams_are_split_as_kubectl_splits_them(stream):
    tool = str(require_tool("kguard-yaml-reference"))
    assert _shape(_kguard_stream(stream)) == _shape(_reference_stream(tool, stream))


@pytest.mark.parametrize("stream", BAD_SEPARATORS)
def test_a_bad_separator_is_an_error_where_kubectl_stops(stream):
    tool = str(require_tool("kguard-yaml-reference"))
    assert _shape(_reference_stream(tool, stream))[-1] == "error"
    separator_line = next(n for n, line in enumerate(stream.split("\n"), 1) if line.startswith("---"))
    errors = [item for item in parse_stream(stream) if isinstance(item, YamlLoadError)]
    assert [(e.line, e.message.startswith("invalid document separator")) for e in errors] == [(separator_line, True)]
