"""Which program may run SMCP plugins: a Python interpreter, decided by looking at the file.

`sync_smcp_plugins(python=...)` records the interpreter SMCP uses, and scheduled jobs run plugin
commands with it. Whatever path is given is executed with a plugin's `cli.py` as its first argument,
so `/bin/sh` there would run any shell script named cli.py (and `/bin/rm` would delete it). The
path is therefore checked WITHOUT running it (running it to ask would be the very hole): it must be
sanctum-mcp's own interpreter, or an executable regular file (after following symlinks, as a venv's
`bin/python` is one) whose name is python3, python3.N, pypy or pypy3, that is a compiled program
(ELF or Mach-O, not a `#!` script that could run anything) and that carries the entry point every
CPython (`Py_BytesMain`/`Py_Main`) or PyPy (`pypy_main_startup`) executable has.
"""

from __future__ import annotations

import mmap
import os
import re
import sys
from pathlib import Path

from sanctum_mcp.domain.shared.errors import InvalidInput

NAME = re.compile(r"(python3?|pypy3?)(\.\d+)*")
# Magic numbers of compiled executables: ELF, and Mach-O (32/64-bit, both byte orders, universal).
BINARY_MAGIC = (b"\x7fELF", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",
                b"\xca\xfe\xba\xbe")
ENTRY_POINTS = (b"Py_BytesMain", b"Py_Main", b"pypy_main_startup")


def is_own_interpreter(path: Path) -> bool:
    try:
        return bool(sys.executable) and os.path.samefile(path, sys.executable)
    except OSError:
        return False


def check_python(python: str, *, what: str = "python") -> str:
    """Return `python` unchanged if it is a Python interpreter; raise InvalidInput saying why not."""
    path = Path(python)
    if not path.is_absolute():
        raise InvalidInput(f"{what} {python!r} must be the absolute path of an interpreter: a "
                           "Python, e.g. SMCP's venv python (/opt/smcp/venv/bin/python).")
    if is_own_interpreter(path):
        return python
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise InvalidInput(f"{what} {python!r} does not exist; give the absolute path of SMCP's Python.") from None
    refuse = f"{what} {python!r} is not a Python interpreter"
    if not real.is_file() or not os.access(real, os.X_OK):
        raise InvalidInput(f"{refuse}: {str(real)!r} is not an executable file. Give SMCP's venv python.")
    if NAME.fullmatch(real.name) is None:
        raise InvalidInput(f"{refuse}: it is {real.name!r}, and only python3, python3.N, pypy or pypy3 executables "
                           "run plugins (a plugin's cli.py is run with it). Give SMCP's venv python.")
    try:
        with real.open("rb") as handle:
            if handle.read(4) not in BINARY_MAGIC:
                raise InvalidInput(f"{refuse}: {str(real)!r} is a script or data, not a compiled interpreter. "
                                   "Give the python executable itself (SMCP's venv bin/python).")
            handle.seek(0)
            # mmap: the search costs no more memory than the page cache, whatever the file's size.
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as image:
                if not any(image.find(marker) != -1 for marker in ENTRY_POINTS):
                    raise InvalidInput(f"{refuse}: {str(real)!r} has no Python entry point. Give SMCP's venv python.")
    except OSError as exc:
        raise InvalidInput(f"{refuse}: {str(real)!r} cannot be read ({exc.strerror}).") from None
    except ValueError:  # mmap of an empty file
        raise InvalidInput(f"{refuse}: {str(real)!r} is empty.") from None
    return python
