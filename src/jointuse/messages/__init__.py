"""Messages between parties, shared by every flow and knowing none of them.

* :mod:`~jointuse.messages.service` — each party's inbox: ``post`` / ``post_many`` in the caller's
  transaction (an outbox: the message commits or rolls back with the state change it reports;
  no personal data), ``peek`` (unacknowledged first, in order after a cursor), ``acknowledge``;
* :mod:`~jointuse.messages.webhooks` — a party's one endpoint and its delivery state;
  :mod:`~jointuse.messages.delivery` — the background worker that pushes, retries with backoff
  and gives up visibly; :mod:`~jointuse.messages.signing` — the signature receivers verify;
* :mod:`~jointuse.messages.idempotency` — ``Idempotency-Key`` for every write, in the request's
  unit of work; :mod:`~jointuse.messages.idempotency_http` — its FastAPI dependency and helper;
* :mod:`~jointuse.messages.api` (``/v1/inbox``, ``/v1/webhooks``), :mod:`~jointuse.messages.cli`
  (``jointuse inbox``), :mod:`~jointuse.messages.settings` (the webhook variables,
  ``JOINTUSE_IDEMPOTENCY_TTL``); tables in :mod:`~jointuse.messages.tables`, the webhooks'
  queries in :mod:`~jointuse.messages.repository`.
"""
