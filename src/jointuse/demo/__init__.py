"""Demo data and the demo / serve commands (``jointuse demo``, ``demo-data``, ``serve``)."""
