"""`python -m runtime serve DIR`: serves the folder of `python -m convert web` over HTTP with
the standard library, so a phone on the same network can open the page. Any static server
does as well; this one sends the MIME types the page needs (.wasm as application/wasm, .mjs
as JavaScript), tells browsers to revalidate (a rebuilt folder is picked up at once), names
itself in the Server header (the page says in its console how it was served) and, by
default, logs no requests."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import socket
import stat
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

from ..errors import ToolkitError
from ..store.files import open_regular
from ..store.layout import WEB_CONFIG_NAME, WEB_INDEX_NAME
from ..tables import plural

SERVER_NAME = "edge-mnist (python -m runtime serve)"
MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
    ".png": "image/png",
    ".jpg": "image/jpeg",
}
"""Python before 3.12 has no type for .wasm or .mjs; browsers refuse to compile or import them
without one (instantiateStreaming needs application/wasm, modules a JavaScript type)."""


REQUEST_TIMEOUT_S = 10
"""A connection that sends nothing for this long is closed; a request line and headers must
arrive within twice this, however they are dribbled."""
MAX_REQUEST_BYTES = 16 * 1024
"""A request line and headers longer than this close the connection (a browser's are < 2 KB)."""
MAX_CONNECTIONS = 32
"""Connections served at once (fewer when the open-file limit is low); more are closed at once."""
LISTEN_BACKLOG = 64
EVICT_AFTER_S = 1.0
"""When every slot is taken, a new connection takes the slot of one that has waited this long
or longer for its request (a browser sends its request within milliseconds of connecting)."""
EVICT_WAIT_S = 2.0
"""How long a new connection waits for the slot it took to be freed."""


class ServeError(ToolkitError, ValueError):
    """The folder is not a built page, or the address cannot be used."""


@dataclass
class ServeOptions:
    """What `python -m runtime serve` serves, and where."""

    folder: str
    """The folder `python -m convert web` wrote (DIR/web)."""
    host: str = "0.0.0.0"
    """The address to listen on: 0.0.0.0 for every network (a phone can reach it), 127.0.0.1 for this computer only."""
    port: int = 8000
    """The port; 0 picks a free one."""
    verbose: bool = False
    """Log every request on stderr."""
    request_timeout: float = REQUEST_TIMEOUT_S
    """Seconds a connection may stay silent (a request line and headers get twice this)."""
    https: bool = False
    """Serve over https (a phone opens its camera only for a secure page), with cert/key or a self-signed certificate."""
    cert: Optional[str] = None
    """PEM certificate for https (default: a self-signed one, runtime.apps.certificate)."""
    key: Optional[str] = None
    """PEM private key of `cert`."""


class RequestTooLarge(Exception):
    """The request line and headers passed MAX_REQUEST_BYTES, or took longer than allowed."""


class BoundedReader:
    """The connection's input as the request parser reads it, cut off after `limit` bytes or
    when the request has taken twice `timeout` (time.monotonic()): a client cannot hold a
    thread by sending slowly or without end. The deadline holds inside a read too: each read
    from the socket waits at most until it (a byte every few seconds does not extend it).
    `start_request` opens both again for the next request on the connection."""

    def __init__(self, buffered, connection, limit: int, timeout: float):
        self._raw, self._connection, self._limit, self._timeout = buffered, connection, limit, timeout
        self.start_request()

    def start_request(self) -> None:
        self._left, self._deadline = self._limit, time.monotonic() + 2 * self._timeout

    def _arm(self) -> None:
        """Before one read from the socket: its timeout is what is left of the request's time."""
        remaining = self._deadline - time.monotonic()
        if self._left <= 0 or remaining <= 0:
            raise RequestTooLarge("request too large or too slow")
        self._connection.settimeout(min(self._timeout, remaining))

    def _budget(self, size) -> int:
        if self._left <= 0:
            raise RequestTooLarge("request too large or too slow")
        return self._left if size is None or size < 0 else min(size, self._left)

    def readline(self, size: int = -1) -> bytes:
        limit = self._budget(size)
        line = bytearray()
        while len(line) < limit:
            self._arm()
            chunk = self._raw.peek(1)[: limit - len(line)]  # at most one read from the socket
            if not chunk:
                break
            end = chunk.find(b"\n")
            line += self._raw.read(len(chunk) if end < 0 else end + 1)  # what is buffered already
            if end >= 0:
                break
        self._left -= len(line)
        return bytes(line)

    def read(self, size: int = -1) -> bytes:
        limit = self._budget(size)
        data = bytearray()
        while len(data) < limit:
            self._arm()
            chunk = self._raw.read1(limit - len(data))
            if not chunk:
                break
            data += chunk
        self._left -= len(data)
        return bytes(data)

    def close(self) -> None:
        self._raw.close()


class PageHandler(SimpleHTTPRequestHandler):
    """Regular files of one folder, with the page's MIME types and no caching surprises.
    A path is served only when it names a regular file that, all links followed, lies inside
    the folder, and no part of it starts with "." (no dotfiles, no lock files); folders are
    never listed ("/" is index.html)."""

    server_version = SERVER_NAME
    extensions_map = dict(SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES)
    verbose = False
    timeout = REQUEST_TIMEOUT_S

    def setup(self):
        super().setup()
        self.rfile = BoundedReader(self.rfile, self.connection, MAX_REQUEST_BYTES, self.timeout)

    def handle_one_request(self):
        """One request on the connection: while its line and headers arrive, the server may
        close the connection to give its slot to a new one (PageServer.process_request)."""
        self.rfile.start_request()
        self.server.request_started(self.connection)
        super().handle_one_request()

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        self.server.request_read(self.connection)
        self.connection.settimeout(self.timeout)  # the answer is sent with the idle timeout, not what the request had left
        return parsed

    def version_string(self):
        return SERVER_NAME

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
        if self.verbose:
            super().log_message(format, *args)

    def list_directory(self, path):
        self.send_error(HTTPStatus.NOT_FOUND, "File not found")
        return None

    def served_path(self) -> Optional[str]:
        """The real path of the file the request names, or None when it must not be served."""
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path, errors="strict")
        parts = [part for part in path.split("/") if part]
        if "\0" in path or "\\" in path or any(part.startswith(".") for part in parts):
            return None
        root = os.path.realpath(self.directory)
        target = os.path.realpath(os.path.join(root, *parts, *([] if parts else ["index.html"])))
        if os.path.commonpath([root, target]) != root:
            return None
        try:
            mode = os.stat(target).st_mode
        except (OSError, ValueError):
            return None
        return target if stat.S_ISREG(mode) else None

    def send_head(self):
        try:
            path = self.served_path()
        except (UnicodeDecodeError, ValueError):
            path = None
        if path is None:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        try:
            handle = open_regular(path)
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        size = os.fstat(handle.fileno()).st_size
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-type", self.guess_type(path))
        self.send_header("Content-Length", str(size))
        self.end_headers()
        return handle


class PageServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with at most `max_connections` threads, a longer listen queue, and
    no tracebacks: a client that breaks the rules is closed, and logged with --verbose."""

    request_queue_size = LISTEN_BACKLOG
    verbose = False

    def __init__(self, address, handler, max_connections: int):
        self._slots = threading.BoundedSemaphore(max_connections)
        self._reading = {}
        """Connections in a slot whose request has not arrived yet -> when it began."""
        self._lock = threading.Lock()
        super().__init__(address, handler)

    def request_started(self, connection) -> None:
        with self._lock:
            self._reading[connection] = time.monotonic()

    def request_read(self, connection) -> None:
        with self._lock:
            self._reading.pop(connection, None)

    def _evict(self) -> bool:
        """Closes the connection that has waited longest for its request, if it has waited
        EVICT_AFTER_S or more: its thread ends and frees its slot. False when none has."""
        with self._lock:
            if not self._reading:
                return False
            connection, since = min(self._reading.items(), key=lambda item: item[1])
            if time.monotonic() - since < EVICT_AFTER_S:
                return False
            del self._reading[connection]
        with contextlib.suppress(OSError):
            socket.socket.shutdown(connection, socket.SHUT_RDWR)  # the socket's own, also under TLS
        return True

    def get_request(self):
        try:
            return super().get_request()
        except OSError as err:
            if err.errno in (errno.EMFILE, errno.ENFILE):
                time.sleep(0.1)  # out of file descriptors: wait for connections to end instead of spinning
            raise

    def process_request(self, request, client_address):
        """A slot for the connection: a free one, else one taken from the connection that has
        waited longest for its request (slow clients cannot hold every slot), else none: the
        connection is closed at once rather than queued."""
        if not self._slots.acquire(blocking=False) and not (self._evict() and self._slots.acquire(timeout=EVICT_WAIT_S)):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.request_read(request)
            self._slots.release()

    def handle_error(self, request, client_address):
        if self.verbose:
            error = sys.exc_info()[1]
            print(f"{client_address[0]}: connection closed: {type(error).__name__}: {error}", file=sys.stderr)


def max_connections() -> int:
    """MAX_CONNECTIONS, or fewer when the open-file limit is low: each connection holds a
    socket and the file it sends."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return MAX_CONNECTIONS
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, (soft - 16) // 2))


class TlsServer(PageServer):
    """The https server: a failed TLS handshake (a plain http:// request, a client that does not
    trust the certificate) is one line on stderr, not a traceback."""

    def handle_error(self, request, client_address):
        import ssl

        err = sys.exc_info()[1]
        if not isinstance(err, (ssl.SSLError, ConnectionError, TimeoutError)):
            return super().handle_error(request, client_address)
        if "HTTP_REQUEST" in str(err):
            print(f"{client_address[0]} asked for http://; this server speaks https: open https://…:{self.server_address[1]}/",
                  file=sys.stderr)


def check_folder(folder) -> Path:
    """The folder, if it holds a built page (index.html and model.json)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ServeError(f"{folder}: no such folder; build it with `python -m convert web` (it writes DIR/web)")
    missing = [name for name in (WEB_INDEX_NAME, WEB_CONFIG_NAME) if not (folder / name).is_file()]
    if missing:
        raise ServeError(f"{folder}: not a page built by `python -m convert web` (no {' or '.join(missing)}); "
                         "serve the DIR/web folder it wrote")
    return folder


def make_server(options: ServeOptions) -> PageServer:
    """The server, bound and ready; `serve_forever()` runs it."""
    folder = check_folder(options.folder)
    handler = type("Handler", (PageHandler,), {"verbose": options.verbose, "timeout": options.request_timeout})
    try:
        server_class = TlsServer if options.https else PageServer
        server = server_class((options.host, options.port), functools.partial(handler, directory=str(folder)),
                              max_connections())
    except OSError as err:
        raise ServeError(f"cannot listen on {options.host}:{options.port}: {err.strerror or err} "
                         "(choose another --port, or --port 0 for a free one)") from err
    server.verbose = options.verbose
    if options.https:
        try:
            server.socket = tls_context(options).wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        except (ToolkitError, OSError, ValueError):
            server.server_close()
            raise
    return server


def tls_context(options: ServeOptions):
    """The server's TLS context: --cert/--key, or the self-signed certificate (made once)."""
    import ssl

    from .certificate import self_signed

    if (options.cert is None) != (options.key is None):
        raise ServeError("--cert and --key go together: pass both, or neither for a self-signed certificate")
    cert, key = options.cert, options.key
    if cert is None:
        names = [options.host] if options.host not in ("0.0.0.0", "", "::") else network_addresses()
        made = self_signed(names)
        cert, key = str(made.cert), str(made.key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as err:
        raise ServeError(f"--cert {cert} / --key {key}: not a usable certificate and key ({err})") from err
    return context


def page_addresses(host: str, port: int, scheme: str = "http") -> list:
    """(URL, who opens it) to print: this computer's, and the network addresses a phone on the
    same network types, as far as this machine names them (no packet is sent to find them)."""
    if host not in ("0.0.0.0", "", "::"):
        return [(f"{scheme}://{_url_host(host)}:{port}/", "this address")]
    addresses = [(f"{scheme}://127.0.0.1:{port}/", "this computer")]
    addresses += [(f"{scheme}://{address}:{port}/", "a phone on the same network") for address in network_addresses()]
    return addresses


def network_addresses() -> list:
    """This computer's IPv4 addresses other than loopback: from its host name, else (Linux)
    from `hostname -I`."""
    found = []
    try:
        found = [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    if not [a for a in found if not a.startswith("127.")] and sys.platform.startswith("linux"):
        import subprocess

        try:
            found = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout.split()
        except (OSError, subprocess.SubprocessError):
            found = []
    return list(dict.fromkeys(a for a in found if "." in a and not a.startswith("127.")))


def servable_files(folder: Path) -> list:
    """The files PageHandler serves from `folder`: regular files, inside it once links are
    followed, with no part of their path starting with "."."""
    root = os.path.realpath(folder)
    found = []
    for current, folders, files in os.walk(root):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in files:
            target = os.path.realpath(os.path.join(current, name))
            if name.startswith(".") or os.path.commonpath([root, target]) != root:
                continue
            try:
                if stat.S_ISREG(os.stat(target).st_mode):
                    found.append(os.path.relpath(os.path.join(current, name), root))
            except OSError:
                continue
    return sorted(found)


def exposure(host: str, port: int, folder: Path) -> str:
    """Who can read what, said when the server starts."""
    files = len(servable_files(folder))
    what = (f"Readable: the {files} {plural(files, 'file')} in {folder} (regular files inside it only: no dotfiles, no folder "
            "listings, no links out of it)")
    if host in ("0.0.0.0", "", "::"):
        return (f"{what}, by ANY device that can reach this computer on port {port}, on every network it is on "
                "(Wi-Fi, Ethernet, VPN). Use --host 127.0.0.1 to keep it to this computer.")
    if host.startswith("127.") or host in ("::1", "localhost"):
        return f"{what}, by this computer only."
    return f"{what}, by any device that can reach {host} on port {port}."


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def serve(options: ServeOptions, out=sys.stdout) -> None:
    """Serves until interrupted, after printing the addresses to open."""
    server = make_server(options)
    port = server.server_address[1]
    with server:
        addresses = page_addresses(options.host, port, "https" if options.https else "http")
        print(f"Serving {options.folder} at:", file=out)
        for url, who in addresses:
            print(f"  {url}  ({who})", file=out)
        if options.host in ("0.0.0.0", "", "::") and len(addresses) == 1:
            print(f"  {'https' if options.https else 'http'}://<this computer's address>:{port}/  (a phone on the same network; `hostname -I` on Linux, "
                  "`ipconfig getifaddr en0` on a Mac, `ipconfig` on Windows show the address)", file=out)
        print(exposure(options.host, port, Path(options.folder)), file=out)
        if options.https and options.cert is None:
            print("The certificate is self-signed: the phone warns once that the connection is not private "
                  "(Chrome: Advanced, then Proceed; Safari: Show Details, then visit this website).", file=out)
        elif not options.https and options.host in ("0.0.0.0", "", "::"):
            print("A phone opens its camera only for https pages: add --https for the live camera.", file=out)
        print("Stop with Ctrl+C.", file=out, flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("Stopped.", file=out)


def run(args) -> int:
    """The command's body: serves args.folder until interrupted; 2 when it cannot start."""
    try:
        serve(ServeOptions(folder=args.folder, host=args.host, port=args.port, verbose=args.verbose,
                           https=args.https or bool(args.cert), cert=args.cert, key=args.key))
    except ServeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
