"""TLS and the bearer token against a real server that requires both."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest

from speechsense.client.main import run_client
from speechsense.client.options import ClientError


@pytest.fixture
def tls_server(server_factory, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem",
                    "-out", "cert.pem", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   cwd=tmp_path, check=True, capture_output=True)
    handle = server_factory(tls_cert=tmp_path / "cert.pem", tls_key=tmp_path / "key.pem", tokens=("s3cret",))
    return handle, tmp_path / "cert.pem"


def test_tls_and_token(tls_server, clip_file, client_options):
    handle, ca = tls_server
    opts = client_options(f"localhost:{handle.port}", file=clip_file, fast=True, tls=True, ca_cert=ca,
                          token="s3cret", duration=3.0)
    result = run_client(opts, io.StringIO(), io.StringIO())
    assert [w.index for w in result.windows] == [0]


def test_wrong_token_is_fatal_not_retried(tls_server, clip_file, client_options):
    handle, ca = tls_server
    opts = client_options(f"localhost:{handle.port}", file=clip_file, fast=True, tls=True, ca_cert=ca,
                          token="wrong")
    err = io.StringIO()
    with pytest.raises(ClientError, match="UNAUTHENTICATED"):
        run_client(opts, io.StringIO(), err)
    assert "retrying" not in err.getvalue()
