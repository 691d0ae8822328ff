"""Work orders of the TSOs (作業指示): meter-reading rounds, maintenance and meter replacement,
outage and disaster investigation. An open order is the only thing that opens a customer's
contact items (P4) to the TSO, for the points in its scope and its time window."""
