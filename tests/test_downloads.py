"""runtime/workstation/downloads.py: a pinned file is fetched once, checked against its checksum, cached,
and refused with a one-line error when the network or the file is wrong. Served here from
file:// addresses and a closed port, so no registry is involved."""

import base64
import hashlib

import pytest

from runtime.workstation.downloads import DownloadError, PinnedFile, fetch, parse_digest
from runtime.store.user_cache import CACHE_ENV


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def pinned(source, digest, max_bytes=1 << 20) -> PinnedFile:
    return PinnedFile(what="a test file", url=source.as_uri(), digest=digest, cache_name="test/file.bin", max_bytes=max_bytes)


def test_fetched_once_then_from_the_cache(tmp_path, cache):
    source = tmp_path / "file.bin"
    source.write_bytes(b"pinned content")
    lines = []
    pin = pinned(source, "sha256=" + hashlib.sha256(b"pinned content").hexdigest())
    path = fetch(pin, log=lines.append)
    assert path == cache / "test" / "file.bin" and path.read_bytes() == b"pinned content"
    assert len(lines) == 1 and lines[0].startswith("Downloading a test file from file://")
    source.unlink()  # the second call must not need it
    assert fetch(pin, log=lines.append) == path and len(lines) == 1


def test_npm_integrity_is_sha512_base64(tmp_path, cache):
    source = tmp_path / "package.tgz"
    source.write_bytes(b"npm tarball")
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(b"npm tarball").digest()).decode()
    assert parse_digest(integrity) == ("sha512", hashlib.sha512(b"npm tarball").hexdigest())
    assert fetch(pinned(source, integrity), log=lambda _: None).read_bytes() == b"npm tarball"


def test_wrong_checksum_caches_nothing(tmp_path, cache):
    source = tmp_path / "file.bin"
    source.write_bytes(b"something else")
    with pytest.raises(DownloadError, match=r"its sha256 is [0-9a-f]{16}…, the pinned one 0000000000000000…: not the file"):
        fetch(pinned(source, "sha256=" + "0" * 64), log=lambda _: None)
    assert [p.name for p in (cache / "test").iterdir()] == []


def test_larger_than_expected_is_refused(tmp_path, cache):
    source = tmp_path / "file.bin"
    source.write_bytes(b"x" * 3000)
    with pytest.raises(DownloadError, match="larger than the 1000 bytes expected of a test file"):
        fetch(pinned(source, "sha256=" + hashlib.sha256(b"x" * 3000).hexdigest(), max_bytes=1000), log=lambda _: None)
    assert [p.name for p in (cache / "test").iterdir()] == []


def test_offline_says_what_to_do(cache):
    pin = PinnedFile(what="a test file", url="http://127.0.0.1:9/file.bin", digest="sha256=" + "0" * 64,
                     cache_name="test/file.bin", max_bytes=1000)  # port 9 (discard): nothing listens
    with pytest.raises(DownloadError, match=r"could not download a test file from http://127.0.0.1:9/file.bin \(.*\): "
                                            r"connect to the network once"):
        fetch(pin, log=lambda _: None)


def test_bad_digest_names_the_parameter():
    with pytest.raises(ValueError, match=r"digest: got 'md5=00', expected 'sha256=<hex>' or 'sha512-<base64>'"):
        parse_digest("md5=00")
