"""After a run: the report to its recipients, an alert to its owner, events to webhooks.

Who gets what follows from whose view the report is: a succeeded run's outputs are the owner's
view of the data, sent only to the recipients the owner named (within the allowed mail
domains, checked again now); a failure goes to the owner alone, with the error and the failing
cell, never to the recipients. Webhooks get the event and links, never the contents. A failed
delivery is recorded on the run; it does not turn a succeeded report into a failed one.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from ..errors import DapError
from ..governance.identity import Principal
from ..governance.secrets import SecretError
from . import delivery
from .model import Run, Schedule
from .outputs import FailedCell

if TYPE_CHECKING:
    from ..session import Workspace

log = logging.getLogger("dap.scheduler")

# The secret-store entry of the key webhooks are signed with (X-DAP-Signature).
WEBHOOK_KEY_SECRET = "dap-internal:webhook-key"


def output_link(base: str, run: Run, fmt: str) -> str:
    """Where a run's output is read through the API (owner and administrators only)."""
    return f"{base.rstrip('/')}/dap/api/v1/schedule-runs/{run.id}/outputs/{fmt}"


class Notifier:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    @property
    def settings(self) -> Any:
        return self.workspace.settings

    def deliver(self, schedule: Schedule, run: Run) -> dict[str, Any]:
        """Send what this outcome calls for; what was sent (or why not), for the run record."""
        report = self._report(schedule, run)
        done: dict[str, Any] = {}
        if run.status == "succeeded" and schedule.recipients:
            done["mail"] = self._mail_report(schedule, run, report)
        elif run.status == "failed":
            done["alert"] = self._mail_alert(run, report)
        if schedule.webhooks and run.status in ("succeeded", "failed"):
            done["webhooks"] = self._webhooks(schedule, report)
        return done

    def _report(self, schedule: Schedule, run: Run) -> delivery.ReportInfo:
        base = self.settings.public_url or ""
        links = {fmt: output_link(base, run, fmt) for fmt in run.outputs} if base else {}
        return delivery.ReportInfo(
            schedule_name=schedule.name,
            run_id=run.id,
            owner=run.owner,
            due_at=run.due_at,
            status=run.status,
            duration_s=run.duration_s or 0.0,
            parameters=run.parameters,
            output_links=links,
            error=run.error,
            attempt=run.attempt,
        )

    def _mail_report(self, schedule: Schedule, run: Run, report: delivery.ReportInfo) -> str:
        if not self.settings.smtp_host:
            return "not sent: no DAP_SMTP_HOST"
        try:
            to = delivery.check_recipients(self.settings, schedule.recipients)
            attach = [Path(run.outputs[f]) for f in ("pdf", "html") if f in run.outputs][:1]
            message = delivery.success_message(report)
            delivery.send_mail(
                self.settings, to, message.subject, message.text, message.html, attach
            )
        except DapError as e:
            log.warning("report of run %s not mailed: %s", run.id, e.message)
            return f"failed: {e.message}"
        return f"sent to {len(to)}"

    def _mail_alert(self, run: Run, report: delivery.ReportInfo) -> str:
        if not self.settings.smtp_host:
            return "not sent: no DAP_SMTP_HOST"
        address = self._address(run.owner)
        if not address:
            return f"not sent: {run.owner} has no email attribute"
        failed = FailedCell(**run.failed_cell) if run.failed_cell else None
        message = delivery.failure_message(report, failed)
        try:
            delivery.send_mail(
                self.settings, [address], message.subject, message.text, message.html
            )
        except DapError as e:
            log.warning("alert of run %s not mailed: %s", run.id, e.message)
            return f"failed: {e.message}"
        return "sent to the owner"

    def _address(self, owner: str) -> str:
        """The owner's mail address: their ``email`` attribute, or their name if it is one."""
        details = self.workspace.policy.principal_details(Principal(name=owner))
        email = str(details.attributes.get("email") or "")
        if not email and "@" in owner:
            email = owner
        return email

    def _webhooks(self, schedule: Schedule, report: delivery.ReportInfo) -> list[str]:
        payload = delivery.webhook_payload(report)
        key = self._signing_key()
        results = []
        for url in schedule.webhooks:
            try:
                delivery.post_webhook(self.settings, url, payload, signing_key=key)
                results.append("sent")
            except DapError as e:
                log.warning("webhook of run %s failed: %s", report.run_id, e.message)
                results.append(f"failed: {e.message}")
        return results

    def _signing_key(self) -> bytes:
        """Random per workspace, kept in the encrypted secret store (created on first use)."""
        secrets_store = self.workspace.secrets
        try:
            return bytes.fromhex(secrets_store.get(WEBHOOK_KEY_SECRET))
        except SecretError:
            with contextlib.suppress(SQLAlchemyError, DapError):
                secrets_store.put(WEBHOOK_KEY_SECRET, os.urandom(32).hex())
            return bytes.fromhex(secrets_store.get(WEBHOOK_KEY_SECRET))
