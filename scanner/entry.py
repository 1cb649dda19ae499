"""The `kguard` console script: `scanner.cli.main` with the cycle collector off from the first import on, and the
methods of dataclasses compiled once per user cache (`dataclass_code`).

Importing kguard and its libraries builds hundreds of thousands of objects (classes, functions, dataclass methods)
that live for the whole run; the collector would walk them again and again (a sixtieth of a pre-commit run).
"""

import gc
from typing import Any


def main() -> Any:
    gc.disable()
    from scanner import dataclass_code

    dataclass_code.install()
    try:
        from scanner.cli import main as cli_main

        return cli_main()
    finally:
        dataclass_code.uninstall()
        dataclass_code.save()
