"""Persistence: the database, SQLite or PostgreSQL (SQL lives only here), and the
content-addressed file store."""
