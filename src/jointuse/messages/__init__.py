"""Messages between parties: each party's inbox, written in the same transaction as the state
change it reports (an outbox), read by peek / acknowledge (:mod:`jointuse.messages.service`)."""
