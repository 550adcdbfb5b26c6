"""Persistence: the SQLite database (SQL lives only here) and the content-addressed file store."""
