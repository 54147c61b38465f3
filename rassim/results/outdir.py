"""Output directories: rassim writes a new directory or replaces its own earlier result,
never anything else, and never leaves a half-written one behind.

A directory belongs to a command when its ``meta.json`` names that command
(``"command": "run"``); anything else (a user's files, another command's results, the
current directory) is refused before any work starts. ``rassim run``, ``compare`` and
``report`` build their output in a hidden sibling (``.NAME.partial-PID``) and swap it
into place when complete: the earlier result is moved aside (``.NAME.old-PID``) and
removed only once the new one is in place, with Ctrl-C and SIGTERM held for the two
renames (:mod:`rassim.interrupts`). ``rassim sweep`` writes into its directory in place
(it resumes) under the same ownership rule. Leftovers of a process that died (SIGKILL,
power loss) are cleaned on the next write into the same parent, and an earlier result it
had moved aside is put back.

This module imports nothing heavy, so the report can use it without the simulator.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rassim import __version__
from rassim.errors import ConfigError
from rassim.interrupts import deferred_interrupts

META = "meta.json"
_STAGE_MARK = ".rassim-stage"  # in a stage until it is renamed into place
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<kind>partial|old)-(?P<pid>[0-9]+)$")

Accepts = Callable[[Path, dict[str, Any] | None], bool]


def slug(name: str) -> str:
    """``name`` as a file or anchor name: anything but letters, digits, dots, dashes and
    underscores becomes a dash (``1e-4/GiB/h`` -> ``1e-4-GiB-h``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "results"


def read_meta(directory: Path) -> dict[str, Any] | None:
    """``directory/meta.json`` as a dict, or None if there is no readable one."""
    try:
        meta = json.loads((directory / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def meta_fields(command: str, argv: list[str]) -> dict[str, Any]:
    """What every ``meta.json`` starts with: the command that owns the directory, the
    command line, and the versions that produced it."""
    return {
        "command": command,
        "argv": argv,
        "version": __version__,
        "git_revision": git_revision(),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
    }


def git_revision() -> str | None:
    """The source checkout's commit, if rassim runs from one."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def written_by(meta: dict[str, Any] | None, command: str) -> bool:
    """Whether ``meta`` is that of a ``rassim COMMAND`` result (older results recorded
    the command line as a list: ``["…/rassim", "run", …]``)."""
    if meta is None:
        return False
    recorded = meta.get("command")
    if isinstance(recorded, list):
        return len(recorded) > 1 and recorded[1] == command
    return recorded == command


def check_output(out: Path, command: str, accepts: Accepts | None = None) -> None:
    """Refuse (ConfigError) unless ``out`` is new, empty, or an earlier result of ``rassim
    COMMAND``; ``accepts(directory, meta)`` replaces the last test (e.g. same experiment)."""
    out = Path(out)
    if not out.exists():
        if out.is_symlink():
            raise ConfigError(f"{out}: is a broken symbolic link; choose another --out")
        return
    if not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory; choose another --out")
    try:
        empty = next(out.iterdir(), None) is None
    except OSError as error:
        raise ConfigError(f"{out}: cannot read the output directory: {error.strerror}") from None
    if empty:
        return
    meta = read_meta(out)
    ours = accepts(out, meta) if accepts is not None else written_by(meta, command)
    if not ours:
        raise ConfigError(
            f"{out}: holds {_holds(meta)}, not an earlier `rassim {command}` result; "
            "rassim never overwrites other files: choose a new or empty --out"
        )


def _holds(meta: dict[str, Any] | None) -> str:
    if meta is None:
        return "files rassim did not write"
    command = meta.get("command")
    if isinstance(command, list):
        command = command[1] if len(command) > 1 else None
    if isinstance(command, str):
        name = f" of experiment {meta['experiment']!r}" if "experiment" in meta else ""
        return f"the results of `rassim {command}`{name}"
    return "a meta.json rassim did not write"


@contextmanager
def replaced_output(out: Path, command: str, accepts: Accepts | None = None) -> Iterator[Path]:
    """Yield an empty stage directory; when the block succeeds it replaces ``out``
    atomically. Everything is checked before the block runs; on failure or a signal the
    stage is removed and ``out`` is untouched."""
    out = Path(out)
    check_output(out, command, accepts)
    target = out.resolve()
    _check_replaceable(out, target)
    stage = target.parent / f".{target.name}.partial-{os.getpid()}"
    try:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            clean_leftovers(target.parent)
            if stage.exists():
                shutil.rmtree(stage)
            stage.mkdir()
            (stage / _STAGE_MARK).touch()
        except OSError as error:
            raise ConfigError(
                f"{out}: cannot write the output directory: {error.strerror}"
            ) from None
        yield stage
        (stage / _STAGE_MARK).unlink()
        with deferred_interrupts():
            _swap(stage, target, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _check_replaceable(out: Path, target: Path) -> None:
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise ConfigError(
            f"{out}: is the current directory or holds it; rassim replaces its output "
            "directory whole: choose a new --out such as runs/NAME"
        )
    if target.is_dir() and os.path.ismount(target):
        raise ConfigError(f"{out}: is a mount point; choose a new directory inside it")
    if target.is_dir():
        for directory, _, files in os.walk(target):
            for path in (Path(directory), *(Path(directory) / name for name in files)):
                if not path.lstat().st_mode & stat.S_IWUSR:
                    raise ConfigError(
                        f"{out}: the earlier result is read-only ({path.name}); rassim will "
                        "not replace it: make it writable or choose another --out"
                    )


def _swap(stage: Path, target: Path, out: Path) -> None:
    """Move ``target`` aside, put ``stage`` in its place, then delete the old one."""
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    moved = False
    try:
        if target.exists():
            target.rename(old)
            moved = True
        stage.rename(target)
    except OSError as error:
        if moved:
            old.rename(target)
        raise ConfigError(f"{out}: cannot replace the output directory: {error.strerror}") from None
    if moved:
        shutil.rmtree(old, onerror=lambda *_: None)
        if old.exists():
            print(f"rassim: warning: could not remove the earlier result {old}", file=sys.stderr)


def clean_leftovers(parent: Path) -> None:
    """Remove the stages of dead rassim processes in ``parent``, and put back an earlier
    result one of them had moved aside and not replaced."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        match = _LEFTOVER.match(entry.name)
        if match is None or entry.is_symlink() or not entry.is_dir():
            continue
        if _alive(int(match["pid"])):
            continue
        if match["kind"] == "partial":
            if (entry / _STAGE_MARK).exists():
                shutil.rmtree(entry, ignore_errors=True)
            else:  # killed between making the stage and marking it: empty, nothing to lose
                with suppress(OSError):
                    entry.rmdir()
            continue
        original = parent / match["name"]
        if not original.exists() and not original.is_symlink():
            entry.rename(original)  # killed between the two renames of a swap
        elif read_meta(entry) is not None:
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
