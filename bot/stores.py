"""Which file store the configuration names: the data folder's, or an S3-compatible bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot import paths
from bot.services.ports import StoredFiles
from storage.files import FileStore


def file_store(
    data_dir: Path, files_url: str | None, *, prepare: bool = False, **s3_config: Any
) -> StoredFiles:
    """The store. Uploads pass through `<data_dir>/files` either way: there they are hashed
    and fsynced first. `prepare` (the bot, at its start; never a tool that may run beside it)
    makes the folders and removes the temp files a crash left."""
    store: FileStore | Any
    if files_url is None:
        store = FileStore(paths.files_dir(data_dir))
    else:
        # Imported only when used: a course on local files never loads the S3 client.
        from storage.s3files import S3FileStore

        store = S3FileStore.from_url(files_url, paths.files_dir(data_dir), **s3_config)
    if prepare:
        store.prepare()
    result: StoredFiles = store
    return result
