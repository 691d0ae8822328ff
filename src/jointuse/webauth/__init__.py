"""Sessions of the web pages (``jointuse.web``): server-side, one row per signed-in browser.

A customer's web session stands on the customer's own session (``customer_session``, made by a
confirmed one-time code); a joint user's console session stands on one of the party's API tokens
exchanged at sign-in (checked again on every request: a revoked or expired token, or a party
that is no longer registered, ends the console session too). The browser holds only a random
cookie value; the database keeps its hash, the CSRF token of the session, an idle and an
absolute expiry."""
