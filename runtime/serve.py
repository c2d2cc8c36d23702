"""`python -m runtime serve DIR`: serves the folder of `python -m convert web` over HTTP with
the standard library, so a phone on the same network can open the page. Any static server
does as well; this one sends the MIME types the page needs (.wasm as application/wasm, .mjs
as JavaScript), tells browsers to revalidate (a rebuilt folder is picked up at once), names
itself in the Server header (the page says in its console how it was served) and, by
default, logs no requests."""

from __future__ import annotations

import functools
import socket
import sys
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

from .errors import ToolkitError

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
    https: bool = False
    """Serve over https (a phone opens its camera only for a secure page), with cert/key or a self-signed certificate."""
    cert: Optional[str] = None
    """PEM certificate for https (default: a self-signed one, runtime.certificate)."""
    key: Optional[str] = None
    """PEM private key of `cert`."""


class PageHandler(SimpleHTTPRequestHandler):
    """Static files of one folder, with the page's MIME types and no caching surprises."""

    server_version = SERVER_NAME
    extensions_map = dict(SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES)
    verbose = False

    def version_string(self):
        return SERVER_NAME

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
        if self.verbose:
            super().log_message(format, *args)


class TlsServer(ThreadingHTTPServer):
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
    missing = [name for name in ("index.html", "model.json") if not (folder / name).is_file()]
    if missing:
        raise ServeError(f"{folder}: not a page built by `python -m convert web` (no {' or '.join(missing)}); "
                         "serve the DIR/web folder it wrote")
    return folder


def make_server(options: ServeOptions) -> ThreadingHTTPServer:
    """The server, bound and ready; `serve_forever()` runs it."""
    folder = check_folder(options.folder)
    handler = type("Handler", (PageHandler,), {"verbose": options.verbose})
    try:
        server_class = TlsServer if options.https else ThreadingHTTPServer
        server = server_class((options.host, options.port), functools.partial(handler, directory=str(folder)))
    except OSError as err:
        raise ServeError(f"cannot listen on {options.host}:{options.port}: {err.strerror or err} "
                         "(choose another --port, or --port 0 for a free one)") from err
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
