"""A self-signed TLS certificate for `python -m runtime serve --https`: a phone's browser opens
the camera only for a secure page (https, or localhost), so the page on the LAN must come over
https. Made with the `cryptography` package, kept in a folder of its own (never the served
one: the key would be downloadable) and reused while it covers this computer's addresses, so
the phone's "not private" warning is accepted once."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolkitError, one_line

DEFAULT_FOLDER = Path.home() / ".cache" / "edge-mnist" / "https"
"""Made readable by the user alone; its key.pem is 0600 and is replaced (never written through,
never kept) when it is a link, another user's, or readable by others."""
VALID_DAYS = 825
"""The longest validity Apple's browsers accept for a TLS certificate."""
COMMON_NAME = "edge-mnist serve (self-signed)"


class CertificateError(ToolkitError, ValueError):
    """The certificate cannot be made or read."""


@dataclass(frozen=True)
class Certificate:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path
    addresses: tuple
    """The host names and IP addresses it is valid for."""
    created: bool
    """Made by this call (False: an earlier one reused)."""


def self_signed(addresses, folder=DEFAULT_FOLDER) -> Certificate:
    """FOLDER/cert.pem and key.pem valid for `addresses` (names or IPs) and localhost; the files
    there are reused when they cover every address and are not about to expire."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError as err:
        raise CertificateError('serve --https makes its certificate with cryptography: pip install "edge-mnist[https]" '
                               f"(or pass --cert and --key files of your own) ({one_line(err)})") from err
    folder = Path(folder)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    wanted = tuple(dict.fromkeys(["localhost", "127.0.0.1", *addresses]))
    now = datetime.datetime.now(datetime.timezone.utc)
    if cert_path.is_file() and private_key_file(key_path):
        try:
            existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
            names = existing.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            covered = {str(v) for v in names.get_values_for_type(x509.IPAddress)} | set(names.get_values_for_type(x509.DNSName))
            if set(wanted) <= covered and existing.not_valid_after_utc > now + datetime.timedelta(days=7):
                return Certificate(cert_path, key_path, tuple(sorted(covered)), created=False)
        except (ValueError, x509.ExtensionNotFound):
            pass  # unreadable or foreign files: replaced below
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    alternatives = [_alternative_name(x509, ipaddress, a) for a in wanted]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        _replace_with(key_path, key_bytes, 0o600)
        _replace_with(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    except OSError as err:
        raise CertificateError(f"cannot write the certificate to {folder}: {one_line(err)}") from err
    return Certificate(cert_path, key_path, wanted, created=True)


def private_key_file(path: Path) -> bool:
    """Whether `path` is a key file that can be kept: a regular file (not a link) of the user's
    own that nobody else can read. Anything else is replaced by a new key."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (stat.S_ISREG(info.st_mode) and not info.st_mode & 0o077
            and (not hasattr(os, "getuid") or info.st_uid == os.getuid()))


def _replace_with(path: Path, data: bytes, mode: int) -> None:
    """`path` replaced by a new file of `data` with `mode`: written under a new name (never
    through a link, never into the old file, whose permissions might be wider) and renamed
    over it, so a link at `path` is replaced, not followed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)  # whatever the umask
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _alternative_name(x509, ipaddress, address: str):
    try:
        return x509.IPAddress(ipaddress.ip_address(address))
    except ValueError:
        return x509.DNSName(address)
