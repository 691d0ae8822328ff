"""Retention (保存期間) and erasure: personal data goes when its purpose ends.

:mod:`jointuse.retention.config` reads the retention period of each category;
:mod:`jointuse.retention.service` finds the customers whose contracts ended longer ago than a
period and pseudonymises their basic data / shreds their ledger subject keys, each action on
the ledger without re-identifying anyone; ``jointuse retention run`` is its command.
"""
