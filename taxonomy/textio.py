"""Reading user-supplied text files: UTF-8 (a BOM is dropped) or one clear error naming the file."""
from __future__ import annotations

import tomllib
from pathlib import Path


class TextFileError(ValueError):
    """A file that cannot be read as UTF-8 text; the message names it and the first bad byte."""


def decode_utf8(data: bytes, name: str) -> str:
    """``data`` as text (UTF-8, BOM dropped); raises :class:`TextFileError` for other bytes."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TextFileError(f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line})") from None


def read_utf8(path: str | Path) -> str:
    """A text file's contents; raises :class:`TextFileError` for a missing or non-UTF-8 file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TextFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    return decode_utf8(data, str(path))


def read_toml(path: str | Path) -> dict:
    """A TOML file's tables; raises :class:`TextFileError` naming the file when it is missing, not
    UTF-8, or not valid TOML (every TOML the project reads from a user goes through here)."""
    try:
        return tomllib.loads(read_utf8(path))
    except tomllib.TOMLDecodeError as exc:
        raise TextFileError(f"{path} is not valid TOML: {exc}") from None
