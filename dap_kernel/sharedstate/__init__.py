"""What the worker processes of one DAP service share, in the metadata database.

``dap serve --workers N`` runs N processes on one port. Whatever a caller may ask of any of
them must not depend on which one answered before: their REST queries (:mod:`.queries`, for
``query/{id}`` paging, polling and cancelling), the result cache (:mod:`.results`) and the rate
buckets (:mod:`.buckets`). One worker or many, the state lives here; the rules stay where they
were (:mod:`dap_kernel.ratelimit`, :mod:`dap_kernel.results`).

Results are copies of governed rows: stored Fernet-encrypted with the service's secret key
(``DAP_HOME/secrets.key`` or ``DAP_SECRET_KEY``, which analysts never reach), read back only
under the key that wrote them (the owner's name for queries, the governed statement's hash for
the cache).
"""
