"""Open the database a `HANDIN_DATABASE_URL` names (its own module: it knows both backends,
and storage/postgres.py is built on storage/db.py)."""

from __future__ import annotations

from pathlib import Path

from storage.db import Database, SqliteDatabase, sqlite_path


async def connect_database(
    url: str | None, default_path: Path, *, durable: bool = True
) -> Database:
    """`sqlite:///path` or `postgresql://...`; None or "" is the SQLite file at `default_path`."""
    if not url:
        return await SqliteDatabase.open_file(default_path, durable=durable)
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        return await SqliteDatabase.open_file(sqlite_path(url), durable=durable)
    if scheme in ("postgresql", "postgres"):
        try:
            from storage.postgres import PostgresDatabase
        except ImportError as exc:
            raise RuntimeError(
                "PostgreSQL needs psycopg: pip install 'handin-bot[postgresql]'"
            ) from exc

        return await PostgresDatabase.open_url(url)
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use sqlite or postgresql")
