"""The catalog as one principal may see it, read straight from the metadata database.

``dap catalog list`` and ``search`` answer from here: the same :class:`~.governed.GovernedCatalog`
and the same :class:`~dap_kernel.governance.policy.GrantPolicy` a workspace's session asks
(tests/kernel/test_catalog_listing.py compares the two for every kind of user), built over the
catalog's reads alone (:class:`~.index.CatalogIndex`). Opening a whole workspace would load the
lake, the engines and their libraries — over a second before the first line is printed.
"""

from __future__ import annotations

from ..governance.identity import Principal, local_principal
from ..governance.policy import GrantPolicy
from ..meta import MetaStore
from ..settings import Settings
from .governed import GovernedCatalog
from .index import CatalogIndex


def governed_reader(settings: Settings, principal: Principal | None = None) -> GovernedCatalog:
    """The catalog reads of ``principal`` (the local ``DAP_USER`` by default) in ``settings``'
    home, with the metadata schema brought up to date as a workspace would."""
    settings.home.mkdir(parents=True, exist_ok=True)
    meta = MetaStore(settings.meta_url)
    meta.migrate()
    return GovernedCatalog(
        CatalogIndex(meta), GrantPolicy(meta), principal or local_principal(settings)
    )
