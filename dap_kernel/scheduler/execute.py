"""One run of a report: papermill in a subprocess, as the schedule's owner.

The notebook's kernel never gets the service's powers. It starts with a clean environment
(none of the service's secrets, tokens or database URLs) and an API key minted for this run
alone: the owner's identity, the ``query``/``read-catalog`` scopes, expiring with the run's
timeout and revoked when the run ends. With a DAP service (``dap serve``, or the lab server
of ``dap up``) the kernel reaches data only through it over HTTP, as every other kernel does;
without one (``dap schedule run`` on a laptop) it opens the same home the caller already owns,
and the key still decides who it is. Queries made with the key are recorded under the run
(:mod:`dap_kernel.run_reads`), which is how a run knows the table versions it read.

The subprocess dies with the thread that started it (``PR_SET_PDEATHSIG``), and the kernel
with papermill (ipykernel polls its parent), so a scheduler killed mid-run leaves nothing
running that could finish the occurrence a second time.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DapError
from . import confine
from .confine import ConfinementError
from .model import Run, Schedule
from .outputs import failed_cell, render_outputs

if TYPE_CHECKING:
    from ..session import Workspace

# What a kernel may inherit from the service's environment: nothing that names a secret. The CA
# bundle (SSL_CERT_*) lets it trust the service's own certificate at an https URL.
_PASSED = (
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "PYTHONPATH",
    "DAP_CHROMIUM",
    "PLAYWRIGHT_BROWSERS_PATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
KERNEL = "python3"


@dataclass
class Outcome:
    status: str  # succeeded | failed
    error: str = ""
    failed_cell: dict[str, Any] | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)
    timed_out: bool = False


def run_dir(workspace: Workspace, run: Run) -> Path:
    return workspace.settings.home / "reports" / run.schedule_id / run.id


def kernel_env(
    workspace: Workspace, key: str, kernel_dir: Path, scratch: Path, service_url: str
) -> dict[str, str]:
    """The environment of a report's kernel: the run's key and where DAP is, nothing else."""
    env = {k: os.environ[k] for k in _PASSED if os.environ.get(k)}
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    env["HOME"] = str(kernel_dir)
    env["DAP_API_KEY"] = key
    env["MPLCONFIGDIR"] = str(kernel_dir / ".config")
    env["TMPDIR"] = str(scratch)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    if service_url:
        env["DAP_SERVICE_URL"] = service_url
    else:  # the embedded default: the same home, which its owner runs as anyway
        settings = workspace.settings
        env["DAP_HOME"] = str(settings.home)
        env["DAP_META_URL"] = settings.meta_url
        if settings.secret_key:
            env["DAP_SECRET_KEY"] = settings.secret_key
    return env


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _confinement(
    workspace: Workspace, kernel_dir: Path, scratch: Path, service_url: str
) -> Callable[[], None] | None:
    """The confinement of a report kernel that reaches DAP through a service in multi-user
    mode (:mod:`.confine`); None where the kernel runs as the home's own single user."""
    if not service_url or not workspace.policy.enforcing():
        return None
    if not confine.available():
        raise ConfinementError(
            "report kernels cannot be confined on this machine (its Linux kernel has no "
            "Landlock), and in multi-user mode DAP runs no report that could read its files"
        )
    return confine.preexec(kernel_dir, workspace.settings.home, scratch)


def _before_exec(confined: Callable[[], None] | None) -> Callable[[], None]:
    def before() -> None:  # pragma: no cover - runs in the child, between fork and exec
        _die_with_parent()
        if confined is not None:
            confined()

    return before


def packages() -> dict[str, str]:
    """Every distribution of the interpreter the kernel runs (the same one as papermill)."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[str(name).lower()] = dist.version
    return dict(sorted(found.items()))


def execute(
    workspace: Workspace,
    schedule: Schedule,
    notebook: dict[str, Any],
    run: Run,
    *,
    service_url: str = "",
) -> Outcome:
    """Execute ``run`` of ``schedule`` and render its outputs; never raises for the notebook's
    own failures (they are the outcome)."""
    workdir = run_dir(workspace, run)
    workdir.mkdir(parents=True, exist_ok=True)
    os.chmod(workdir, 0o700)
    # A private temporary folder with a short path: chromium (kaleido's chart images) puts a
    # socket in it, and a socket path under a deep DAP home is longer than Linux allows.
    scratch = Path(tempfile.mkdtemp(prefix="dap-run-"))
    try:
        return _execute(workspace, schedule, notebook, run, workdir, scratch, service_url)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _execute(
    workspace: Workspace,
    schedule: Schedule,
    notebook: dict[str, Any],
    run: Run,
    workdir: Path,
    scratch: Path,
    service_url: str,
) -> Outcome:
    # The kernel writes only in ``kernel/`` (its HOME and working folder, where papermill
    # saves the executed notebook); the log, the clean executed notebook and the outputs the
    # scheduler reads back stay where the kernel cannot write (see :func:`take_executed`).
    kernel_dir = workdir / "kernel"
    shutil.rmtree(kernel_dir, ignore_errors=True)  # a retry starts from a clean folder
    kernel_dir.mkdir(mode=0o700)
    try:
        confined = _confinement(workspace, kernel_dir, scratch, service_url)
    except ConfinementError as e:
        return Outcome(status="failed", error=e.message)
    source = kernel_dir / "input.ipynb"
    produced = kernel_dir / "executed.ipynb"
    executed = workdir / "executed.ipynb"
    executed.unlink(missing_ok=True)
    source.write_text(json.dumps(notebook))
    (kernel_dir / "parameters.json").write_text(json.dumps(run.parameters))
    # A run key lives a little longer than the run may, and is revoked as soon as it ends.
    info, key = workspace.apikeys.create(
        run.owner,
        f"scheduled run {run.id}",
        scopes=["query", "read-catalog"],
        expires_in_days=(schedule.timeout_s + 300) / 86400,
        run_id=run.id,
    )
    command = [
        sys.executable,
        "-m",
        "papermill",
        str(source),
        str(produced),
        "-f",
        str(kernel_dir / "parameters.json"),
        "--cwd",
        str(kernel_dir),
        "-k",
        KERNEL,
        "--no-progress-bar",
        "--log-output",
        "--request-save-on-cell-execute",
    ]
    log = workdir / "run.log"
    timed_out = False
    try:
        with log.open("ab") as out:
            out.write(f"--- attempt {run.attempt} at {datetime.now(UTC).isoformat()}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=kernel_env(workspace, key, kernel_dir, scratch, service_url),
                cwd=kernel_dir,
                start_new_session=True,
                preexec_fn=_before_exec(confined),
                pass_fds=(confined.fd,) if confined is not None else (),  # type: ignore[attr-defined]
            )
            try:
                code = proc.wait(timeout=schedule.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                code = proc.wait()
    finally:
        workspace.apikeys.revoke(info.key_id)
    outcome = Outcome(status="succeeded" if code == 0 else "failed", packages=packages())
    try:
        take_executed(produced, executed)
    except TamperedReport as e:
        return Outcome(status="failed", error=e.message, packages=outcome.packages)
    title = f"{schedule.name} — {run.due_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if code != 0:
        failed = failed_cell(executed) if executed.exists() else None
        outcome.failed_cell = asdict(failed) if failed is not None else None
        outcome.timed_out = timed_out
        if timed_out:
            outcome.error = f"the run took longer than its timeout of {schedule.timeout_s:g} s"
        elif failed is not None:
            outcome.error = f"cell {failed.index} failed: {failed.ename}: {failed.evalue}"
        else:
            outcome.error = "papermill failed: " + _last_line(log)
        if executed.exists():  # the executed notebook shows where it stopped
            with contextlib.suppress(Exception):
                outcome.outputs = {
                    k: str(v)
                    for k, v in render_outputs(executed, ["ipynb"], workdir, title=title).items()
                }
        return outcome
    try:
        files = render_outputs(
            executed,
            list(schedule.formats),
            workdir,
            title=title,
            chromium=workspace.settings.chromium,
        )
    except Exception as e:  # a report that ran but could not be rendered is a failed run
        message = e.message if isinstance(e, DapError) else f"{type(e).__name__}: {e}"
        return Outcome(status="failed", error=f"rendering the outputs failed: {message}")
    outcome.outputs = {k: str(v) for k, v in files.items()}
    return outcome


class TamperedReport(DapError):
    """What the kernel left is not a notebook papermill wrote (a link, a device, too big)."""

    code = "report_tampered"


MAX_EXECUTED_BYTES = 512 * 2**20


def take_executed(produced: Path, kept: Path) -> None:
    """Copy the executed notebook out of the kernel's folder, trusting nothing about it.

    The kernel may have replaced the file papermill wrote: with a symbolic link (to the
    service's database, which the unconfined scheduler could read and hand back as the
    report), a hard link, a FIFO that never ends, or something huge. Only a plain file with
    one link, of sane size, holding a notebook's JSON is taken; nothing else is followed.
    """
    try:
        fd = os.open(produced, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return  # papermill stopped before writing it: the outcome says why
    except OSError as e:
        raise TamperedReport(
            "the report's executed notebook is not a plain file papermill wrote "
            f"({os.strerror(e.errno or 0).lower()}): nothing was read from it"
        ) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise TamperedReport(
                "the report's executed notebook is not a plain file papermill wrote: "
                "nothing was read from it"
            )
        if info.st_size > MAX_EXECUTED_BYTES:
            raise TamperedReport(
                f"the executed notebook is larger than {MAX_EXECUTED_BYTES // 2**20} MB"
            )
        data = handle.read(MAX_EXECUTED_BYTES + 1)
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("cells"), list):
        raise TamperedReport("the report's executed notebook is not a notebook")
    partial = kept.with_name(kept.name + ".part")
    partial.write_bytes(data)
    partial.replace(kept)


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"
