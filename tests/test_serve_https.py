"""`python -m runtime serve --https`: the secure page a phone's live camera needs, with a
self-signed certificate made once and kept outside the served folder."""

from __future__ import annotations

import socket
import ssl
import urllib.request

import pytest

from conftest import run_cli
from serving import serving


@pytest.fixture
def page(tmp_path):
    """The two files serve requires of a page folder."""
    folder = tmp_path / "web"
    folder.mkdir()
    (folder / "index.html").write_text("<!doctype html><title>page</title>\n")
    (folder / "model.json").write_text('{"labels": []}\n')
    return folder


def serving_https(folder, home, *extra):
    """`python -m runtime serve FOLDER --https` with HOME at `home` (where the self-signed
    certificate is kept); yields the running server (tests/serving.py)."""
    return serving(folder, "--https", *extra, scheme="https", env={"HOME": str(home), "PATH": "/usr/bin:/bin"})


def fetch(port, cafile) -> bytes:
    context = ssl.create_default_context(cafile=str(cafile))  # verified: the name 127.0.0.1 and the signature
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/index.html", context=context, timeout=10) as response:
        return response.read()


def test_self_signed_page_is_verified_against_its_certificate_and_made_once(page, tmp_path):
    cert = tmp_path / ".cache/edge-mnist/https/cert.pem"
    with serving_https(page, tmp_path) as served:
        assert fetch(served.port, cert).startswith(b"<!doctype html>")
    first = cert.read_bytes()
    with serving_https(page, tmp_path) as served:
        assert fetch(served.port, cert).startswith(b"<!doctype html>")
    assert cert.read_bytes() == first  # the phone accepts it once
    assert oct((cert.parent / "key.pem").stat().st_mode & 0o777) == "0o600"
    assert not list(page.glob("*.pem"))  # the key is never served


def test_a_plain_http_request_is_one_line_not_a_traceback(page, tmp_path):
    with serving_https(page, tmp_path) as served:
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as connection:
            connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            connection.recv(1024)
        assert fetch(served.port, tmp_path / ".cache/edge-mnist/https/cert.pem")  # and the server still serves
    assert "Traceback" not in served.stderr
    assert "asked for http://; this server speaks https" in served.stderr


def test_own_certificate_and_a_lone_cert_flag(page, tmp_path):
    from runtime.apps.certificate import self_signed

    own = self_signed(["127.0.0.1"], tmp_path / "own")
    with serving_https(page, tmp_path / "home", "--cert", str(own.cert), "--key", str(own.key)) as served:
        assert fetch(served.port, own.cert).startswith(b"<!doctype html>")
    assert not (tmp_path / "home/.cache").exists()  # no self-signed one was made
    result = run_cli("runtime", "serve", page, "--https", "--cert", own.cert, "--port", "0")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --cert and --key go together: pass both, or neither for a self-signed certificate"
