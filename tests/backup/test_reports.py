"""Schedules and their outputs live under DAP_HOME: they come across, and a run's recorded
output paths point into the restored home."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from dap_kernel.backup import backup, restore
from dap_kernel.meta import MetaStore
from dap_kernel.scheduler.store import RunRecord, ScheduleRecord
from dap_kernel.settings import Settings

from .conftest import Home


def test_report_outputs_come_across_and_point_into_the_restored_home(
    source: Home, tmp_path: Path
) -> None:
    report = source.path / "reports" / "s1" / "r1" / "report.html"
    report.parent.mkdir(parents=True)
    report.write_text("<h1>sales</h1>")
    now = datetime.now(UTC)
    with source.ws.meta.session() as s:
        s.add(
            ScheduleRecord(
                id="s1",
                name="sales",
                owner="tester",
                notebook_name="sales.ipynb",
                notebook="{}",
                notebook_sha256="0" * 64,
                cron="0 6 * * *",
            )
        )
        s.flush()
        s.add(
            RunRecord(
                id="r1",
                schedule_id="s1",
                owner="tester",
                occurrence="o1",
                trigger="cron",
                due_at=now,
                not_before=now,
                status="succeeded",
                outputs={"html": str(report)},
            )
        )

    backup(source.ws.session(), tmp_path / "backup")
    home = tmp_path / "other-place"
    restore(
        tmp_path / "backup",
        Settings(home=home, user="tester"),
        key_file=source.path / "secrets.key",
    )

    meta = MetaStore(f"sqlite:///{home / 'meta.db'}")
    with meta.session() as s:
        outputs = s.execute(select(RunRecord.outputs)).scalar_one()
    meta.dispose()
    assert outputs == {"html": str(home / "reports" / "s1" / "r1" / "report.html")}
    assert Path(outputs["html"]).read_text() == "<h1>sales</h1>"
