"""`python -m runtime serve --https`: the secure page a phone's live camera needs, with a
self-signed certificate made once and kept outside the served folder."""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import subprocess
import sys
import urllib.request

import pytest

from conftest import ROOT, run_cli


@pytest.fixture
def page(tmp_path):
    """The two files serve requires of a page folder."""
    folder = tmp_path / "web"
    folder.mkdir()
    (folder / "index.html").write_text("<!doctype html><title>page</title>\n")
    (folder / "model.json").write_text('{"labels": []}\n')
    return folder


@contextlib.contextmanager
def serving_https(folder, home, *extra):
    """`python -m runtime serve FOLDER --https --host 127.0.0.1 --port 0`; yields (port, process)."""
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen([sys.executable, "-m", "runtime", "serve", str(folder), "--https", "--host", "127.0.0.1",
                                "--port", "0", *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        header, address = process.stdout.readline(), process.stdout.readline()
        match = re.match(r"\s*https://127\.0\.0\.1:(\d+)/", address)
        if not header.startswith("Serving") or not match:
            process.kill()
            pytest.fail(f"runtime serve --https did not start: {header}{address}{process.stderr.read()}")
        yield int(match.group(1)), process
    finally:
        process.terminate()
        process.wait(timeout=10)


def fetch(port, cafile) -> bytes:
    context = ssl.create_default_context(cafile=str(cafile))  # verified: the name 127.0.0.1 and the signature
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/index.html", context=context, timeout=10) as response:
        return response.read()


def test_self_signed_page_is_verified_against_its_certificate_and_made_once(page, tmp_path):
    cert = tmp_path / ".cache/edge-mnist/https/cert.pem"
    with serving_https(page, tmp_path) as (port, _):
        assert fetch(port, cert).startswith(b"<!doctype html>")
    first = cert.read_bytes()
    with serving_https(page, tmp_path) as (port, _):
        assert fetch(port, cert).startswith(b"<!doctype html>")
    assert cert.read_bytes() == first  # the phone accepts it once
    assert oct((cert.parent / "key.pem").stat().st_mode & 0o777) == "0o600"
    assert not list(page.glob("*.pem"))  # the key is never served


def test_a_plain_http_request_is_one_line_not_a_traceback(page, tmp_path):
    with serving_https(page, tmp_path) as (port, process):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            connection.recv(1024)
        assert fetch(port, tmp_path / ".cache/edge-mnist/https/cert.pem")  # and the server still serves
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert "Traceback" not in err
    assert "asked for http://; this server speaks https" in err


def test_own_certificate_and_a_lone_cert_flag(page, tmp_path):
    from runtime.certificate import self_signed

    own = self_signed(["127.0.0.1"], tmp_path / "own")
    with serving_https(page, tmp_path / "home", "--cert", str(own.cert), "--key", str(own.key)) as (port, _):
        assert fetch(port, own.cert).startswith(b"<!doctype html>")
    assert not (tmp_path / "home/.cache").exists()  # no self-signed one was made
    result = run_cli("runtime", "serve", page, "--https", "--cert", own.cert, "--port", "0")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --cert and --key go together: pass both, or neither for a self-signed certificate"
