"""One supervised stream's process: ``python -m dap_kernel.streams.child`` (see
:mod:`.supervisor`).

It reads its job — the DAP home, the principal it runs as, the request, how often it was
restarted — from standard input (never the command line, which every local user can read), opens
the home, resolves the request (a connector's credentials are decrypted here, in the process
that uses them, and nowhere else) and runs the stream until SIGTERM. Anything that stops it
before the runner starts is written to the state file as a failure, so the one who asked sees
why. A second child of the same stream (two service workers restarting it at once) finds the
stream's lock held and exits without touching the state file.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from ..errors import DapError, StreamRunning
from ..governance.identity import Principal
from ..session import Workspace
from ..settings import Settings
from .request import StreamRequest, resolve
from .runner import StreamRunner
from .spec import stream_name
from .state import StreamState, stream_lock, write_state


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    job = json.loads(sys.stdin.read())
    home = Path(job["home"])
    request = StreamRequest.from_dict(job["request"])
    state = StreamState(
        name=stream_name(request.table),
        spec={},
        pid=os.getpid(),
        owner=str(job["owner"]),
        supervised=True,
        request=request.to_dict(),
        restarts=int(job.get("restarts", 0)),
    )
    try:
        with stream_lock(home, state.name):  # before the state file is touched
            return _run(home, job, request, state)
    except StreamRunning as e:  # the process running it keeps its state file
        print(f"stream {state.name}: {e}", file=sys.stderr)
        return 0


def _run(home: Path, job: dict[str, object], request: StreamRequest, state: StreamState) -> int:
    overrides = {k: job[k] for k in ("meta_url", "secret_key") if job.get(k)}
    ws = Workspace(Settings.from_env(home=home, **overrides))
    try:
        session = ws.session(Principal(name=state.owner, source="service"), channel="stream")
        try:
            spec = resolve(session, request.to_spec(), supervised=True)
        except DapError as e:
            state.status, state.error = "failed", str(e)
            write_state(home, state)
            return 1
        state.spec = spec.to_dict()
        StreamRunner(session, spec, home=home, state=state).run(handle_signals=True)
    except DapError as e:
        print(f"stream {state.name}: {e}", file=sys.stderr)
        return 1
    finally:
        ws.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
