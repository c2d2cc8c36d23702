"""`python -m convert web`: a self-contained web page that runs one ONNX artifact in the
browser with onnxruntime-web, written to DIR/web/ for any static server.

The folder holds the page (web/*.html, *.css, *.js: package data of the installed wheel, or
this checkout's web/), the ONNX file, a model.json with the artifact's input contract, labels
and checksum from the manifest, and onnxruntime-web's smallest build that runs it: the
WebAssembly CPU build (its JavaScript bundle and one .wasm file) at the version pinned in
web/package-lock.json, copied from the checkout's web/node_modules when `npm ci` put it there,
else from the npm registry's tarball, fetched once, checked against the lock file's sha512
integrity and cached per user (runtime/workstation/downloads.py), checked again on every use.
The page fetches nothing at run time.
No TensorFlow here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from runtime.errors import ModelFileError, ToolkitError
from runtime.prediction import DEFAULT_MIN_CONFIDENCE
from runtime.store.embedded import read_embedded
from runtime.store.files import folder_lock, sha256_file
from runtime.store.folder import ModelsFolder
from runtime.store.layout import WEB_CONFIG_NAME, WEB_FOLDER
from runtime.store.manifest import Artifact
from runtime.tables import format_size, plural
from runtime.verdict import UNPROVEN, Limits
from runtime.workstation.downloads import PinnedFile, fetch

PAGE_PACKAGE = "convert.web_page"
"""The page's sources as package data: pyproject.toml maps this package onto web/."""
CHECKOUT_WEB = Path(__file__).resolve().parents[1] / "web"
"""The page's sources in a checkout, package.json, package-lock.json and (after `npm ci`) node_modules."""
ORT_TARBALL_MAX_BYTES = 200 << 20
"""onnxruntime-web 1.30.0's tarball is 33 MB."""
PAGE_FILES = ("index.html", "style.css", "app.js", "model.js", "contract.js", "images.js", "digits.js",
              "components.js", "raster.js", "constants.js", "pillow.js", "resample.js", "numeric.js", "camera.js")
"""What the page is made of, copied as they are."""
ORT_PACKAGE = "onnxruntime-web"
ORT_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm")
"""onnxruntime-web's WebAssembly CPU build: the JavaScript API with its loader bundled in, and
the one .wasm it loads (SIMD; threads are not used). The package's other builds add WebGPU,
WebNN or JSPI and are 2-14 MB larger; the WebGL build cannot run int8 (QDQ) models."""
ORT_WEB_MAX_IR_VERSION = 13
"""The newest ONNX IR version onnxruntime-web 1.30.0 reads ("Unsupported model IR version: 14,
max supported IR version: 13", measured); Python's onnxruntime 1.32 reads 14. Raise it with
the pin in web/package.json."""
PAGE_INPUT_TYPES = ("uint8", "float32")
"""uint8: the model takes the pixels as they are (the contract's scaling is in its graph, as
`convert` makes ONNX files); float32: the page applies the contract's scaling (contract.js)."""
BUILDING_PREFIX = ".web-building-"
"""The folder is assembled under this name beside DIR/web and renamed into place when complete."""


class WebBuildError(ToolkitError, ValueError):
    """The page cannot be built: no ONNX artifact, or onnxruntime-web cannot be found or fetched."""


@dataclass
class WebOptions:
    """What `python -m convert web` builds."""

    models: str = "models"
    """The models folder: its manifest.json lists the artifact; the page goes to DIR/web/."""
    artifact: Optional[str] = None
    """The ONNX artifact's file name as the manifest lists it (default: the int8 ONNX artifact)."""
    limits: Optional[Limits] = None
    """What the artifact must meet now, its recorded verdict judged again (convert/verify.py's
    `meets`); None: as it was converted."""


@dataclass
class WebBuild:
    """What was written."""

    folder: Path
    artifact: Artifact
    ort_version: str
    files: dict = field(default_factory=dict)
    """File name -> size in bytes, for every file in the folder."""
    note: Optional[str] = None
    """Why the page runs a float ONNX file when it was not asked for (no verified int8 one, and
    why), or that the page's file is unproven."""

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())


def choose_artifact(folder: ModelsFolder, name: Optional[str]) -> Artifact:
    """The named ONNX artifact, or the manifest's verified int8 ONNX artifact, else its verified
    float32 one, else the unproven int8 or float32 one."""
    manifest = folder.manifest
    onnx = [a for a in manifest.artifacts if a.format == "onnx"]
    listed = ", ".join(a.path for a in onnx) or "none"
    if name is not None:
        artifact = manifest.find(name) or manifest.find(Path(name).name)
        rejected = manifest.rejection(Path(name).name)
        if artifact is None and rejected:
            raise WebBuildError(f"--artifact {name}: conversion rejected it: {rejected.reason} (the manifest's ONNX "
                                f"artifacts: {listed})")
        if artifact is None:
            raise WebBuildError(f"--artifact {name}: not listed in {folder.manifest_path} (its ONNX artifacts: {listed})")
        if artifact.format != "onnx":
            raise WebBuildError(f"--artifact {name}: a {artifact.format} file; the page runs ONNX files (the manifest's: {listed})")
        return artifact
    for verified in (True, False):  # a verified file first, then an unproven one
        for precision in ("int8", "float32"):
            for artifact in onnx:
                if artifact.precision == precision and (artifact.status != UNPROVEN) == verified:
                    return artifact
    if onnx:
        return onnx[0]
    rejected = [r for r in manifest.rejected if r.path.endswith(".onnx")]
    if rejected:
        reasons = "; ".join(f"{r.path}: {r.reason}" for r in rejected)
        raise WebBuildError(f"{folder.manifest_path} lists no ONNX artifact: conversion rejected every ONNX file "
                            f"({reasons}); the page runs only files that passed verification")
    raise WebBuildError(f"{folder.manifest_path} lists no ONNX artifact: run `python -m convert onnx --models {folder.path}` first")


def float_fallback_note(folder: ModelsFolder, artifact: Artifact) -> Optional[str]:
    """When the page runs a float ONNX file because there is no verified int8 one: says so, and
    why (its verdict is unproven, conversion rejected it, with its reason, or it was never
    converted); when the page's file itself is unproven, says that."""
    manifest, models = folder.manifest, folder.path
    int8 = [a for a in manifest.artifacts if a.format == "onnx" and a.precision == "int8"]
    if artifact.status == UNPROVEN:
        return unproven_note(artifact)
    if artifact.precision != "int8" and int8 and int8[0].status == UNPROVEN:
        return (f"the page runs the {artifact.precision} ONNX file ({format_size(artifact.bytes)}): {int8[0].path} is "
                f"{int8[0].verdict_summary or UNPROVEN}")
    if artifact.precision == "int8" or int8:
        return None
    int8_name = f"{manifest.model}_int8.onnx"
    rejected = manifest.rejection(int8_name)
    if rejected:
        why = f"conversion rejected {int8_name}: {rejected.reason}"
    else:
        why = (f"{int8_name} is not in the manifest: it was not converted, or conversion rejected it "
               f"(`python -m convert onnx --models {models}` converts it and says which)")
    return f"the page runs the {artifact.precision} ONNX file ({format_size(artifact.bytes)}): there is no int8 one; {why}"


def unproven_note(artifact: Artifact) -> Optional[str]:
    """When the page's file is unproven: says so, with its verdict."""
    if artifact.status != UNPROVEN:
        return None
    return f"the page runs {artifact.path}, whose check was {artifact.verdict_summary or UNPROVEN}"


def check_artifact(artifact: Artifact, folder: ModelsFolder) -> Path:
    """The artifact's file, checked against the manifest: present, same sha256, the same
    contract and labels inside the file, float32 input and output tensors."""
    path, models = folder.file(artifact.path), folder.path
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file, though {folder.manifest_path} lists it: run `python -m convert onnx --models {models}` again")
    digest = sha256_file(path)
    if digest != artifact.sha256:
        raise ModelFileError(f"{path}: sha256 {digest[:12]}… differs from the manifest's {artifact.sha256[:12]}…: "
                             f"the file changed since it was converted; run `python -m convert onnx --models {models}` again")
    embedded = read_embedded(path)
    if embedded is not None and embedded.contract is not None and embedded.contract != artifact.contract:
        raise ModelFileError(f"{path}: its embedded input contract {embedded.contract.to_json()} differs from the manifest's "
                             f"{artifact.contract.to_json()}")
    if embedded is not None and embedded.labels is not None and list(embedded.labels) != list(artifact.labels):
        raise ModelFileError(f"{path}: its embedded labels {embedded.labels} differ from the manifest's {artifact.labels}")
    ir_version = onnx_ir_version(path)
    if ir_version is not None and ir_version > ORT_WEB_MAX_IR_VERSION:
        raise WebBuildError(f"{path}: ONNX IR version {ir_version}, and onnxruntime-web reads {ORT_WEB_MAX_IR_VERSION} at most "
                            "(export it with an onnx package that writes IR <= 13, or pin a newer onnxruntime-web in web/package.json)")
    accepted = {"input": PAGE_INPUT_TYPES, "output": ("float32",)}
    for role, tensor in (("input", artifact.input_tensor), ("output", artifact.output_tensor)):
        if tensor is not None and (tensor.dtype not in accepted[role] or tensor.scale):
            raise WebBuildError(f"{path}: its {role} tensor is {tensor.dtype}"
                                f"{' (quantized)' if tensor.scale else ''}; the page feeds "
                                f"{' or '.join(PAGE_INPUT_TYPES)} and reads float32 tensors")
    return path


def onnx_ir_version(path: Path) -> Optional[int]:
    """ModelProto.ir_version (field 1), read from the protobuf without the onnx package."""
    from runtime.store.onnx_external import message_fields

    try:
        for number, wire, value in message_fields(path.read_bytes()):
            if number == 1 and wire == 0:
                return int(value)
    except ValueError as err:
        raise ModelFileError(f"{path}: not a readable ONNX file ({err})") from err
    return None


def web_source() -> Path:
    """The page's sources: the installed package data, else this checkout's web/."""
    try:
        spec = importlib.util.find_spec(PAGE_PACKAGE)
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return CHECKOUT_WEB


def ort_pin(source: Path) -> tuple:
    """(version, onnxruntime-web's tarball on the npm registry) at the version and sha512
    integrity of package-lock.json (the version package.json pins)."""
    try:
        pinned = json.loads((source / "package.json").read_text())["dependencies"][ORT_PACKAGE]
        locked = json.loads((source / "package-lock.json").read_text())["packages"][f"node_modules/{ORT_PACKAGE}"]
        version, integrity = locked["version"], locked["integrity"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise WebBuildError(f"{source}: cannot read {ORT_PACKAGE}'s pin from package.json and package-lock.json ({err})") from err
    if version != pinned:
        raise WebBuildError(f"{source}: package-lock.json locks {ORT_PACKAGE} {version}, package.json pins {pinned}")
    return version, PinnedFile(what=f"{ORT_PACKAGE} {version} (npm)",
                      url=f"https://registry.npmjs.org/{ORT_PACKAGE}/-/{ORT_PACKAGE}-{version}.tgz",
                      digest=integrity, cache_name=f"{ORT_PACKAGE}/{ORT_PACKAGE}-{version}.tgz",
                      max_bytes=ORT_TARBALL_MAX_BYTES)


def ort_files(target: Path, log=print) -> str:
    """Writes onnxruntime-web's ORT_FILES at package-lock.json's pin into `target` and returns
    the version: from the checkout's node_modules when it holds that version (npm ci checked
    it), else from the npm tarball in the user's cache, which is checked against the lock
    file's sha512 on every use (downloads.fetch: fetched again when it differs) and the files
    taken from it each time, so an edited cache is never shipped."""
    version, pin = ort_pin(web_source())
    package = CHECKOUT_WEB / "node_modules" / ORT_PACKAGE
    try:
        installed = json.loads((package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        installed = None
    if installed == version and all((package / "dist" / name).is_file() for name in ORT_FILES):
        for name in ORT_FILES:
            shutil.copyfile(package / "dist" / name, target / name)
        return version
    try:
        tarball = fetch(pin, log=log)
    except ToolkitError as err:
        raise WebBuildError(f"the page needs {ORT_PACKAGE} {version}, which is not cached, and {err}") from err
    _extract_dist(tarball, target)
    return version


def _extract_dist(tarball: Path, target: Path) -> None:
    """ORT_FILES from the npm tarball (package/dist/...) into `target`."""
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for name in ORT_FILES:
                member = archive.getmember(f"package/dist/{name}")
                source = archive.extractfile(member) if member.isfile() else None
                if source is None:
                    raise WebBuildError(f"{tarball}: package/dist/{name} is not a file")
                with source, open(target / name, "wb") as out:
                    shutil.copyfileobj(source, out)
    except (tarfile.TarError, KeyError, OSError, EOFError) as err:
        raise WebBuildError(f"{tarball}: cannot take {', '.join(ORT_FILES)} from it ({err})") from err


def model_config(manifest, artifact: Artifact, ort_version: str, wasm_bytes: int) -> dict:
    """model.json: what the page needs to know, from the manifest."""
    tensor = artifact.input_tensor
    output = artifact.output_tensor
    return {
        "model": manifest.model,
        "artifact": {
            "file": Path(artifact.path).name,
            "format": artifact.format,
            "precision": artifact.precision,
            "bytes": artifact.bytes,
            "sha256": artifact.sha256,
            "accuracy": artifact.metrics.accuracy,
            "agreement": artifact.metrics.agreement,
            "status": artifact.status,
            "verdict": artifact.verdict_summary,
        },
        "contract": artifact.contract.to_json(),
        "labels": list(artifact.labels),
        "min_confidence": DEFAULT_MIN_CONFIDENCE,  # the page marks answers below it as predict does
        "input": None if tensor is None else {"name": tensor.name, "shape": list(tensor.shape), "dtype": tensor.dtype},
        "output": None if output is None else {"name": output.name, "shape": list(output.shape)},
        "onnxruntime_web": {"version": ort_version, "script": ORT_FILES[0], "wasm": ORT_FILES[1], "wasm_bytes": wasm_bytes},
        "built_by": "python -m convert web",
    }


def build_web(options: WebOptions) -> WebBuild:
    """Writes DIR/web/ as a whole: assembled beside it and renamed into place when complete,
    so a failed or killed build leaves any earlier folder as it was."""
    from .verify import meets

    folder = ModelsFolder.open(options.models)
    models, manifest = folder.path, folder.manifest
    artifact = choose_artifact(folder, options.artifact)
    failures = meets(artifact, options.limits) if options.limits is not None else []
    if failures:
        raise WebBuildError(f"{artifact.path} does not meet the limits given: {'; '.join(failures)}")
    note = unproven_note(artifact) if options.artifact else float_fallback_note(folder, artifact)
    model_path = check_artifact(artifact, folder)
    source = web_source()
    missing = [name for name in PAGE_FILES if not (source / name).is_file()]
    if missing:
        raise WebBuildError(f"{source} lacks the page's {', '.join(missing)}")
    target = models / WEB_FOLDER
    with folder_lock(models):
        for stale in models.glob(BUILDING_PREFIX + "*"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        building = Path(tempfile.mkdtemp(prefix=BUILDING_PREFIX, dir=models))
        try:
            os.chmod(building, 0o755)
            for name in PAGE_FILES:
                shutil.copyfile(source / name, building / name)
            ort_version = ort_files(building)
            shutil.copyfile(model_path, building / model_path.name)
            wasm_bytes = (building / ORT_FILES[1]).stat().st_size
            config = model_config(manifest, artifact, ort_version, wasm_bytes)
            (building / WEB_CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
            files = {p.name: p.stat().st_size for p in sorted(building.iterdir())}
            _replace_folder(building, target)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
    return WebBuild(target, artifact, ort_version, files, note)


def _replace_folder(new: Path, target: Path) -> None:
    """Renames `new` onto `target`; an earlier `target` is moved aside first and removed after."""
    old = None
    if target.exists():
        if not target.is_dir():
            raise WebBuildError(f"{target} exists and is not a folder: move it away first")
        old = Path(tempfile.mkdtemp(prefix=BUILDING_PREFIX + "old-", dir=target.parent))
        os.replace(target, old / WEB_FOLDER)
    try:
        os.replace(new, target)
    except OSError:
        if old is not None:
            os.replace(old / WEB_FOLDER, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def format_build(build: WebBuild) -> str:
    """What `python -m convert web` prints: the folder, its size by part, how to serve it."""
    page = {n: b for n, b in build.files.items() if n in PAGE_FILES or n == WEB_CONFIG_NAME}
    model_name = Path(build.artifact.path).name
    rows = [
        (model_name, build.files[model_name], f"the model ({build.artifact.precision} ONNX)"),
        (ORT_FILES[1], build.files[ORT_FILES[1]], f"{ORT_PACKAGE} {build.ort_version}: WebAssembly CPU build (SIMD)"),
        (ORT_FILES[0], build.files[ORT_FILES[0]], f"{ORT_PACKAGE} {build.ort_version}: its JavaScript API"),
        (f"page: {len(page)} files", sum(page.values()), "index.html, style.css, model.json and the scripts"),
    ]
    width = max(len(name) for name, _, _ in rows)
    lines = [f"Wrote {build.folder}/: {format_size(build.total_bytes)} in {len(build.files)} {plural(len(build.files), 'file')}"]
    lines += [f"  {name:<{width}}  {format_size(size):>10}  {what}" for name, size, what in rows]
    if build.note:
        lines.append(f"Note: {build.note}")
    lines.append(f"Serve it: python -m runtime serve {build.folder}  (then open the address it prints, on this computer or a phone on the same network)")
    return "\n".join(lines)

