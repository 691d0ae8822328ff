"""Migration revisions: ``<NNNN>_<area>.py``, each naming the revision it builds on."""
