"""GDPR/CCPA requests: a data-subject key per table, export and erasure through lineage and
history, with an erasure certificate.

* :mod:`.keys` — ``dap gdpr key TABLE COLUMN``: the column that says whom a row is about.
* :mod:`.scope` — which tables a request covers: keyed tables, tables derived from them
  (lineage), their archives and quarantines; and which of those cannot be searched.
* :mod:`.export` — ``dap gdpr export --subject ID --out FILE``.
* :mod:`.erase` — ``dap gdpr erase --subject ID``: rows, history, caches, certificate.
* :mod:`.pii` — ``dap pii scan`` / ``dap pii confirm``: suggested PII tags feeding tag masks.

Requests read and delete raw rows on the subject's behalf: administrators only, audited, the
subject named only by hash. It sits above the session (a feature, like :mod:`dap_kernel.archive`).
"""

from __future__ import annotations

from .erase import Erasure, ErasureIncomplete, ErasureRefused, erase_subject, erasures
from .export import SubjectExport, export_subject
from .keys import SubjectKey, declare_key, remove_key, require_admin, subject_keys
from .scope import Scope, Target, plan_scope

__all__ = [
    "Erasure",
    "ErasureIncomplete",
    "ErasureRefused",
    "Scope",
    "SubjectExport",
    "SubjectKey",
    "Target",
    "declare_key",
    "erase_subject",
    "erasures",
    "export_subject",
    "plan_scope",
    "remove_key",
    "require_admin",
    "subject_keys",
]
