"""A moto S3 server on 127.0.0.1 (port 0: the system picks a free port), in its own process.

Run as ``python tests/s3server.py``: prints ``http://127.0.0.1:<port>`` once it
listens, then serves until killed. Environment variables reach moto (e.g.
``INITIAL_NO_AUTH_ACTION_COUNT`` to require credentials after that many calls).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path


class S3Server:
    """A moto server subprocess; ``endpoint`` is its URL."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        import os

        self.process = subprocess.Popen([sys.executable, str(Path(__file__).resolve())], stdout=subprocess.PIPE,
                                        text=True, env={**os.environ, **(env or {})})
        line = self.process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.process.kill()
            raise RuntimeError(f"moto server did not start: {line!r}")
        self.endpoint = line

    def client(self, key: str = "test", secret: str = "test"):  # noqa: ANN201 - a boto3 client
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=key,
                            aws_secret_access_key=secret, region_name="us-east-1")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def main() -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
