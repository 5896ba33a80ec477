"""The files of one orchestrated run, written so that none is ever half-written.

Every write goes to a temporary file in the same directory, is fsynced, renamed
over the target with :func:`os.replace` and the directory is fsynced: after a
crash a reader finds the old file or the new one. Temporary files are named
``.<name>.<pid>-<hex>.tmp``; readers never look at them, and the next write of
the same file removes those left by processes that no longer exist.

Layout of ``<runs_root>/<run_id>/``::

    run.json  request.txt  plan.json  report.md
    tasks/<worker>/<task_id>.json      results/<worker>/<task_id>.json
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._errors import InvalidName, PodiumError
from .._home import private_dir
from .._names import check_name

__all__ = [
    "RUN_ID_PATTERN",
    "ArtifactError",
    "RunDir",
    "atomic_write_json",
    "atomic_write_text",
    "check_run_id",
    "list_run_ids",
    "new_run_id",
    "read_json",
]

RUN_ID_PATTERN = re.compile(r"^run-\d{8}-\d{6}-[0-9a-f]{4}$")
_TMP_SUFFIX = ".tmp"


class ArtifactError(PodiumError):
    """A run file that cannot be written, or that exists but cannot be read back."""

    code = "artifact_error"


# --- atomic files ---------------------------------------------------------------------------


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) so that readers see the old or the new file."""
    path = Path(path)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ArtifactError(f"{path}: cannot write: {exc}", path=str(path)) from None
    _write_bytes(path, data)


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON (keys in insertion order, non-ASCII kept as is)."""
    path = Path(path)
    try:
        # allow_nan=False: NaN/Infinity are not JSON and other readers would reject the file.
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: cannot write as JSON: {exc}", path=str(path)) from None
    atomic_write_text(path, text + "\n")


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``; ``None`` if missing, :class:`ArtifactError` if corrupt."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ArtifactError(f"{path}: cannot read: {reason}", path=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(
            f"{path}: corrupt JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            path=str(path),
        ) from None


def _write_bytes(path: Path, data: bytes) -> None:
    directory = path.parent
    tmp = directory / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{_TMP_SUFFIX}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _remove_stale_tmp(path)
        # 0o666 lets the umask decide the mode, as for any file the user creates.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_dir(directory)
    except OSError as exc:
        raise ArtifactError(
            f"{path}: cannot write: {exc.strerror or exc}", path=str(path)
        ) from None


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable. Some file systems refuse to fsync a
    # directory; the data is then as safe as that file system allows.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_tmp(path: Path) -> None:
    """Remove temporaries of ``path`` left by crashed processes (not by live writers)."""
    prefix = f".{path.name}."
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(_TMP_SUFFIX)):
            continue
        tag = name[len(prefix) : -len(_TMP_SUFFIX)]
        pid_text, _, _ = tag.partition("-")
        if pid_text.isdigit() and _process_exists(int(pid_text)):
            continue  # another writer, possibly this process, is mid-write
        with contextlib.suppress(OSError):
            os.unlink(entry.path)


def _process_exists(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    except OSError:
        return False
    return True


# --- run ids --------------------------------------------------------------------------------


def new_run_id(now: float | None = None) -> str:
    """``run-YYYYMMDD-HHMMSS-xxxx`` in UTC, so ids sort by start time whatever the time zone."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"run-{stamp}-{secrets.token_hex(2)}"


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is well formed, else raise :class:`InvalidName` (a UsageError)."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        shown = run_id[:80] if isinstance(run_id, str) else run_id
        raise InvalidName(
            f"invalid run id {shown!r}: expected run-YYYYMMDD-HHMMSS-xxxx", run_id=shown
        )
    return run_id


def list_run_ids(runs_root: Path) -> list[str]:
    """Ids of the runs under ``runs_root`` that have a ``run.json``, newest first."""
    try:
        entries = list(os.scandir(runs_root))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise ArtifactError(
            f"{runs_root}: cannot list runs: {exc.strerror or exc}", path=str(runs_root)
        ) from None
    ids = [
        entry.name
        for entry in entries
        if RUN_ID_PATTERN.fullmatch(entry.name)
        and entry.is_dir()
        and os.path.isfile(os.path.join(entry.path, RunDir.RUN_FILE))
    ]
    # The id starts with its UTC start time, so name order is start order.
    return sorted(ids, reverse=True)


# --- one run --------------------------------------------------------------------------------


class RunDir:
    """Paths and atomic reads/writes of the files of one run."""

    RUN_FILE = "run.json"
    REQUEST_FILE = "request.txt"
    PLAN_FILE = "plan.json"
    REPORT_FILE = "report.md"

    def __init__(self, runs_root: Path, run_id: str) -> None:
        self.run_id = check_run_id(run_id)
        self.runs_root = Path(runs_root)
        self.path = self.runs_root / run_id

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def run_file(self) -> Path:
        return self.path / self.RUN_FILE

    @property
    def request_file(self) -> Path:
        return self.path / self.REQUEST_FILE

    @property
    def plan_file(self) -> Path:
        return self.path / self.PLAN_FILE

    @property
    def report_file(self) -> Path:
        return self.path / self.REPORT_FILE

    def task_file(self, worker: str, task_id: str) -> Path:
        return self._worker_file("tasks", worker, task_id)

    def result_file(self, worker: str, task_id: str) -> Path:
        return self._worker_file("results", worker, task_id)

    def _worker_file(self, kind: str, worker: str, task_id: str) -> Path:
        # Both become path components: the name rules keep them inside the run.
        check_name(worker, what="worker name")
        check_name(task_id, what="task id")
        return self.path / kind / worker / f"{task_id}.json"

    def exists(self) -> bool:
        return self.run_file.is_file()

    def create(self) -> None:
        """Create the run directory; an existing one is an error (ids are never reused)."""
        try:
            private_dir(self.runs_root)
            self.path.mkdir(mode=0o700)
        except FileExistsError:
            raise ArtifactError(
                f"{self.path}: run directory already exists",
                run_id=self.run_id,
                path=str(self.path),
            ) from None
        except OSError as exc:
            raise ArtifactError(
                f"{self.path}: cannot create run directory: {exc.strerror or exc}",
                run_id=self.run_id,
                path=str(self.path),
            ) from None
        _fsync_dir(self.runs_root)

    # run.json / request.txt / plan.json / report.md

    def write_run(self, data: Mapping[str, Any]) -> None:
        atomic_write_json(self.run_file, dict(data))

    def read_run(self) -> dict[str, Any] | None:
        return _read_object(self.run_file)

    def write_request(self, text: str) -> None:
        atomic_write_text(self.request_file, text)

    def read_request(self) -> str | None:
        try:
            return self.request_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ArtifactError(
                f"{self.request_file}: cannot read: {exc}", path=str(self.request_file)
            ) from None

    def write_plan(self, data: Mapping[str, Any]) -> None:
        atomic_write_json(self.plan_file, dict(data))

    def read_plan(self) -> dict[str, Any] | None:
        return _read_object(self.plan_file)

    def write_report(self, text: str) -> None:
        atomic_write_text(self.report_file, text)

    # tasks/ and results/

    def write_task(self, worker: str, task_id: str, data: Mapping[str, Any]) -> None:
        atomic_write_json(self.task_file(worker, task_id), dict(data))

    def read_task(self, worker: str, task_id: str) -> dict[str, Any] | None:
        return _read_object(self.task_file(worker, task_id))

    def write_result(self, worker: str, task_id: str, data: Mapping[str, Any]) -> None:
        atomic_write_json(self.result_file(worker, task_id), dict(data))

    def read_result(self, worker: str, task_id: str) -> dict[str, Any] | None:
        return _read_object(self.result_file(worker, task_id))

    def relative(self, path: Path | str) -> str:
        """``path`` relative to the run directory (POSIX separators); unchanged if outside it."""
        path = Path(path)
        try:
            return path.relative_to(self.path).as_posix()
        except ValueError:
            return str(path)


def _read_object(path: Path) -> dict[str, Any] | None:
    data = read_json(path)
    if data is None or isinstance(data, dict):
        return data
    raise ArtifactError(
        f"{path}: corrupt: expected a JSON object, found {type(data).__name__}",
        path=str(path),
    )
