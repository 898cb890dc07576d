"""May I? Batch access checks for the lab extension (greying out what the caller cannot open)."""

from __future__ import annotations

from ..api import Call, router
from ..models import AccessCheckRequest, AccessCheckResult, AccessDecision


@router.post("access/check", body=AccessCheckRequest, response=AccessCheckResult, tag="access")
def check_access(call: Call, body: AccessCheckRequest) -> AccessCheckResult:
    """Whether you may do each action on each securable, with the reason."""
    with call.workspace.policy.pinned():
        results = []
        for item in body.checks:
            decision = call.session.check(item.action, item.securable)
            results.append(
                AccessDecision(
                    action=item.action,
                    securable=item.securable,
                    allowed=decision.allowed,
                    reason=decision.reason,
                )
            )
    return AccessCheckResult(user=call.principal.name, results=results)
