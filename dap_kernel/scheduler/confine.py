"""Report kernels that cannot open the service's files.

A scheduled report is code its owner wrote, run by the DAP service. In a multi-user
deployment the service owns the lake, the metadata database and the secret key; a report's
kernel started by it as the same system user could simply ``open()`` them and read every
row of every table. So the kernel is confined with Landlock (Linux ≥ 5.13, no privileges
needed): before papermill starts, the process may read only the system and Python
installation folders and may write only its own folder of the run (not the run's log or
outputs, which the scheduler reads back). Everything else — the DAP home
above all — answers ``PermissionError``, while the governed path (HTTP to the service with
the run's key) works as for any other kernel.

Fail closed: in multi-user mode, a machine without Landlock runs no reports (the run fails
with the reason), and a DAP home inside a folder the kernel must read is refused too.
"""

from __future__ import annotations

import contextlib
import os
import site
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import DapError

# The system and Python folders a kernel (and the chromium kaleido starts) read and execute.
SYSTEM = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/opt", "/proc", "/sys")


class ConfinementError(DapError):
    """A report cannot run confined here (the run fails with this message)."""

    code = "report_not_confined"
    http_status = 500


def available() -> bool:
    try:
        from landlock import landlock_abi_version

        return int(landlock_abi_version()) >= 1
    except Exception:  # no Landlock in this kernel, not Linux, or no landlock package
        return False


def _python_roots() -> set[Path]:
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    with contextlib.suppress(AttributeError):
        roots.update(Path(p) for p in site.getsitepackages())
    roots.update(Path(p) for p in sys.path if p and Path(p).is_dir())
    roots.update(Path(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)
    return roots


def readable_roots() -> list[Path]:
    """Where a confined kernel may read (and execute): the system and the Python it runs."""
    found = {Path(p) for p in SYSTEM} | _python_roots()
    return sorted({p.resolve() for p in found if p.exists()})


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def preexec(workdir: Path, home: Path, scratch: Path) -> Callable[[], None]:
    """A function to run in the report's process before papermill starts: from then on it
    (and the kernel it starts) may read only :func:`readable_roots` and write ``workdir``
    and its private temporary folder ``scratch``."""
    from landlock import FSAccess, Ruleset
    from landlock.plumbing import PR_SET_NO_NEW_PRIVS, get_prctl, get_restrict_self

    home = home.resolve()
    workdir = workdir.resolve()
    roots = readable_roots()
    for root in roots:
        if _inside(home, root):
            raise ConfinementError(
                f"the DAP home {home} is inside {root}, which report kernels must read: "
                "move DAP_HOME out of the system and Python folders"
            )
    read = FSAccess.READ_FILE | FSAccess.READ_DIR | FSAccess.EXECUTE
    ruleset = Ruleset()  # every filesystem access is handled: denied unless allowed below
    ruleset.allow(*roots, rules=read)
    ruleset.allow(workdir, scratch)  # the kernel's folder (HOME, cwd) and its TMPDIR
    ruleset.allow("/dev", rules=read | FSAccess.WRITE_FILE)  # /dev/null, /dev/urandom, ptys
    fd = ruleset._fd
    prctl, restrict = get_prctl(), get_restrict_self()

    def confine() -> None:  # pragma: no cover - runs in the child, between fork and exec
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        restrict(fd, 0)

    confine.fd = fd  # type: ignore[attr-defined]
    return confine
