"""A node that is down or answers garbage gets an error that says what to do."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridshare.ledger.chain import open_chain
from gridshare.ledger.keys import LocalSigner
from gridshare.ledger.transactions import ChainMismatch, NodeUnavailable, TransactionManager
from tests.integration.conftest import free_port
from tests.ledger.conftest import Anvil


class _Garbage(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # http.server's naming
        body = b"<html>this is not JSON-RPC</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def garbage_node() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_node_that_is_down(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(NodeUnavailable, match="did not answer properly after 4 tries"):
        open_chain(tmp_path, LocalSigner.generate(), url)


def test_node_that_answers_garbage(tmp_path: Path, garbage_node: str) -> None:
    with pytest.raises(NodeUnavailable, match="Is it running, and is the URL right"):
        open_chain(tmp_path, LocalSigner.generate(), garbage_node)


def test_node_of_another_chain(anvil: Anvil) -> None:
    with pytest.raises(ChainMismatch, match="serves chain id 31337, expected 20241125"):
        TransactionManager(anvil.web3, LocalSigner.generate(), expected_chain_id=20241125)
