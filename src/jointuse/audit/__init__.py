"""Auditing: the ledger searched and exported, incidents scoped (漏えい等報告), for operators."""
