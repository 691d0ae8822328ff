"""Market flows (スイッチング支援システムの手続): switching with 廃止取次, move-in, move-out,
ampere and customer-information changes — durable state machines whose state is the only source
of the relations ``applicant``, ``forwarding_addressee`` and ``switching_operator``, and whose
completions are the only source (beside the go-live import) of retail contracts."""
