"""`dap catalog list/search` read the catalog without a workspace: the answers must be the
session's own, for every kind of user (an admin, filtered and masked analysts, no grant)."""

from __future__ import annotations

import pytest

from dap_kernel.catalog.listing import governed_reader
from dap_kernel.governance.identity import Principal
from dap_kernel.session import Workspace


@pytest.mark.parametrize("user", ["tester", "ann", "raj", "bob"])
@pytest.mark.parametrize("term", ["", "pii", "order", "email"])
def test_the_reader_answers_as_the_session(governed: Workspace, user: str, term: str) -> None:
    principal = Principal(user)
    reader = governed_reader(governed.settings, principal)
    assert reader.search(term) == governed.session(principal).visible_tables(term)


def test_the_reader_hides_what_the_session_hides(governed: Workspace) -> None:
    ann = governed_reader(governed.settings, Principal("ann"))
    customers = next(t for t in ann.search("") if t.qualified_name == "main.customers")
    assert customers.row_count is None  # ann sees customers through a row filter
    assert governed_reader(governed.settings, Principal("bob")).search("") == []
    tester = governed_reader(governed.settings, Principal("tester")).search("")
    assert next(t for t in tester if t.qualified_name == "main.customers").row_count == 200
