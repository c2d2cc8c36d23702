"""`python -m runtime serve` against hostile clients and hostile folders: only regular files
inside the folder are served (no links out, no dotfiles, no listings), a NUL byte or a
slow or endless request closes that connection without a traceback, threads are bounded,
and the server says at start who can read what."""

import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from runtime.apps.serve import MAX_REQUEST_BYTES, ServeOptions, exposure, make_server, max_connections

from serving import serving

TIMEOUT_S = 1.0
"""The request timeout the in-process server is made with (the default is 10 s)."""


@pytest.fixture
def page(tmp_path):
    """A built-looking page folder, with a secret beside it and links that lead out of it."""
    folder = tmp_path / "web"
    folder.mkdir()
    (folder / "index.html").write_text("<p>the page</p>")
    (folder / "model.json").write_text("{}")
    (folder / "app.js").write_text("console.log(1)")
    (folder / ".models.lock").write_text("")
    (folder / ".secret").write_text("dotfile")
    (folder / "sub").mkdir()
    (folder / "sub" / "inner.js").write_text("inner")
    (tmp_path / "secret.txt").write_text("SECRET beside the folder")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.txt").write_text("SECRET in a folder beside it")
    os.symlink("/etc/passwd", folder / "passwd_link")
    os.symlink("../secret.txt", folder / "sib.txt")
    os.symlink("../outside", folder / "outdir")
    os.symlink("app.js", folder / "alias.js")  # a link that stays inside is fine
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "pipe.js")
    return folder


@pytest.fixture
def server(page):
    """The server in this process on 127.0.0.1, a free port; yields (host, port)."""
    srv = make_server(ServeOptions(folder=str(page), host="127.0.0.1", port=0, request_timeout=TIMEOUT_S))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv.server_address[:2]
    finally:
        srv.shutdown()
        srv.server_close()


def _request(address, raw: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(address, timeout=timeout) as conn:
        conn.sendall(raw)
        chunks = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _get(address, path: str) -> tuple:
    reply = _request(address, f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode("latin-1"))
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_serves_the_pages_files(server):
    assert _get(server, "/") == (200, b"<p>the page</p>")
    assert _get(server, "/app.js") == (200, b"console.log(1)")
    assert _get(server, "/sub/inner.js") == (200, b"inner")
    assert _get(server, "/alias.js") == (200, b"console.log(1)")
    assert _get(server, "/app.js?v=2") == (200, b"console.log(1)")


@pytest.mark.parametrize("path", [
    "/passwd_link", "/sib.txt", "/outdir/x.txt", "/outdir/", "/../secret.txt", "/..%2fsecret.txt", "/%2e%2e/secret.txt",
    "/.secret", "/.models.lock", "/sub/", "/sub", "/pipe.js", "/app.js%00.html", "/%00", "/%ff%fe", "/sub%5c..%5capp.js",
    "//etc/passwd",
])
def test_refuses_everything_else(server, path):
    status, body = _get(server, path)
    assert status == 404, path
    assert b"SECRET" not in body and b"root:" not in body and b"inner.js" not in body


def test_a_nul_byte_or_a_huge_request_closes_quietly(page, server, capfd):
    assert _get(server, "/\x00")[0] in (400, 404)
    huge = b"GET / HTTP/1.0\r\n" + b"X-Filler: " + b"a" * (2 * MAX_REQUEST_BYTES) + b"\r\n\r\n"
    try:
        reply = _request(server, huge)
    except ConnectionResetError:  # the server closed the connection with data unread
        reply = b""
    assert not reply.startswith(b"HTTP/1.0 200")
    assert _get(server, "/app.js")[0] == 200  # still serving
    assert "Traceback" not in capfd.readouterr().err


def test_idle_connections_are_bounded_and_time_out(server):
    """More half-sent requests than the server has threads: the extra ones are closed at
    once, the others after the timeout, and then the page is served again."""
    slots = max_connections()
    idle = [socket.create_connection(server, timeout=10) for _ in range(slots + 10)]
    started = time.monotonic()
    baseline = threading.active_count()
    for conn in idle:
        conn.sendall(b"GET / HTTP/1.0\r\n")  # and never the rest
    time.sleep(TIMEOUT_S / 2)
    assert threading.active_count() <= baseline + slots  # one thread per slot, none for the rest
    closed_at = []
    for conn in idle:
        assert conn.recv(1024) == b""  # the server closes every one of them
        closed_at.append(time.monotonic() - started)
    assert max(closed_at) < 2 * TIMEOUT_S + 5
    assert _get(server, "/app.js") == (200, b"console.log(1)")
    for conn in idle:
        conn.close()


def test_a_request_sent_slowly_is_cut_off(server):
    conn = socket.create_connection(server, timeout=30)
    started = time.monotonic()
    try:
        conn.sendall(b"GET / HTTP/1.0\r\n")
        while time.monotonic() - started < 4 * TIMEOUT_S + 5:
            conn.sendall(b"X: y\r\n")  # a header line every half timeout: never silent, never finished
            time.sleep(TIMEOUT_S / 2)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        conn.close()
    assert time.monotonic() - started < 4 * TIMEOUT_S + 5


def test_a_request_dribbled_byte_by_byte_is_cut_off_at_its_deadline(server):
    """A byte of a header every third of the timeout, never a whole line: the request's time
    runs inside the read too (it used to be checked only between lines)."""
    conn = socket.create_connection(server, timeout=30)
    started, closed = time.monotonic(), False
    try:
        conn.sendall(b"GET / HTTP/1.0\r\nX: ")
        while not closed and time.monotonic() - started < 10 * TIMEOUT_S:
            conn.sendall(b"y")
            time.sleep(TIMEOUT_S / 3)
            conn.setblocking(False)
            try:
                closed = conn.recv(1024) == b""
            except BlockingIOError:
                pass
            finally:
                conn.setblocking(True)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    finally:
        conn.close()
    assert closed and time.monotonic() - started < 2 * TIMEOUT_S + 2


def test_slow_clients_cannot_starve_the_others(page):
    """More dribbling connections than slots, each sending a byte of its request every half
    second (a long request timeout, so only the slots matter): a normal client is answered
    every time, in the slot of the one that has waited longest."""
    srv = make_server(ServeOptions(folder=str(page), host="127.0.0.1", port=0, request_timeout=60))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    address, stop = srv.server_address[:2], threading.Event()

    def dribble():
        while not stop.is_set():
            try:
                with socket.create_connection(address, timeout=60) as conn:
                    for byte in b"GET /app.js HTTP/1.1\r\nHost: x\r\n":
                        if stop.wait(0.5):
                            return
                        conn.sendall(bytes([byte]))
            except OSError:
                stop.wait(0.05)

    attackers = [threading.Thread(target=dribble, daemon=True) for _ in range(max_connections() + 8)]
    try:
        for attacker in attackers:
            attacker.start()
        time.sleep(2)
        answers = [_get(address, "/app.js") for _ in range(20)]
    finally:
        stop.set()
        srv.shutdown()
        srv.server_close()
    assert answers == [(200, b"console.log(1)")] * 20


def test_start_says_who_can_read_what(page):
    assert "by ANY device that can reach this computer on port 8000, on every network" in exposure("0.0.0.0", 8000, page)
    assert exposure("127.0.0.1", 8000, page).endswith("by this computer only.")
    with serving(page) as served:
        lines = served.lines + [served.process.stdout.readline() for _ in range(2)]
    assert lines[0].startswith(f"Serving {page} at:")
    assert re.fullmatch(r"  http://127\.0\.0\.1:\d+/  \(this address\)\n", lines[1])
    assert lines[2].startswith(f"Readable: the 5 files in {page} (regular files inside it only")
    assert lines[2].rstrip().endswith("by this computer only.")


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads CPU time from /proc (Linux)")
@pytest.mark.slow
def test_many_idle_connections_under_a_low_open_file_limit(page):
    """150 half-sent requests against a server limited to 64 open files: it neither spins
    nor prints tracebacks, and serves again once they are gone."""
    import resource

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    idle = []
    with serving(page, preexec_fn=low_limit) as served:
        try:
            for _ in range(150):
                try:
                    conn = socket.create_connection(("127.0.0.1", served.port), timeout=5)
                    conn.sendall(b"GET / HTTP/1.0\r\n")
                    idle.append(conn)
                except OSError:
                    pass  # refused or reset: the server is shedding them, as it should
            time.sleep(0.5)
            before = _cpu_seconds(served.process.pid)
            time.sleep(3)
            assert _cpu_seconds(served.process.pid) - before < 0.5 * 3, "the server spins while connections wait"
            for conn in idle:
                conn.close()
            idle = []
            time.sleep(0.5)
            assert _get(("127.0.0.1", served.port), "/app.js") == (200, b"console.log(1)")
        finally:
            for conn in idle:
                conn.close()
    assert "Traceback" not in served.stderr and "Too many open files" not in served.stderr, served.stderr[-2000:]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
