"""The steps of scripts/pi_emulation.sh written in Python, run by the host's Python:

  mirror                                   the Debian mirror this machine's apt uses
  requirements PYPROJECT EXTRA...          the project's dependencies plus those extras', one per line
  split-debian REQS DIST_PACKAGES PINS PACKAGE...
                                           of REQS, print those pip must install; write to PINS the
                                           versions of PACKAGEs Debian's root provides (checked
                                           against the requirements that name them)
  check-deps SITE DIST_PACKAGES MACHINE    every dependency of what pip put in SITE is met by SITE
                                           or Debian's packages
  compiler ROOT QEMU CACHE CPU RELEASE     write CACHE/bin/cc: the root's gcc under qemu (see compiler())

Exit status non-zero, with the problems on stderr, when a check fails."""

import glob
import re
import sys
from importlib import metadata

try:  # packaging's Requirement, as pip vendors it when the host Python lacks the package
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name


def apt_entries():
    """(types, uris, components) of every enabled apt source, in apt's order."""
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        try:
            lines = open(path).read().splitlines()
        except OSError:
            continue
        for line in lines:
            words = re.sub(r"\[[^]]*\]", " ", line.split("#")[0]).split()  # drop [options]
            if len(words) >= 3:
                yield [words[0]], [words[1]], words[3:]
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for stanza in re.split(r"\n\s*\n", open(path).read()):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ", "\t")):
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.split()
            if fields.get("enabled", ["yes"])[0].lower() != "no":
                yield fields.get("types", []), fields.get("uris", []), fields.get("components", [])


def mirror():
    """A Debian archive: .../debian, or a snapshot of one (.../debian/20250520T000000Z)."""
    for types, uris, components in apt_entries():
        for uri in uris:
            if "deb" in types and "main" in components and re.search(r"/debian(/\d{8}T\d{6}Z)?/?$", uri):
                print(uri)
                return None
    return "no Debian mirror found"


def requirements(pyproject, *extras):
    import tomllib

    project = tomllib.load(open(pyproject, "rb"))["project"]
    print("\n".join(project["dependencies"] + [r for extra in extras for r in project["optional-dependencies"][extra]]))


def split_debian(reqs, dist_packages, pins_path, *provided):
    debian = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions(path=[dist_packages])}
    provided = [canonicalize_name(name) for name in provided]
    problems = [f"{name}: not found in {dist_packages}" for name in provided if name not in debian]
    for line in open(reqs).read().splitlines():
        req = Requirement(line)
        dist = debian.get(canonicalize_name(req.name))
        if canonicalize_name(req.name) not in provided:
            print(line)
        elif dist is not None and not req.specifier.contains(dist.version, prereleases=True):
            problems.append(f"pyproject.toml asks for {req}, Debian's is {dist.version}")
    if problems:
        return "; ".join(problems)
    with open(pins_path, "w") as pins:
        pins.writelines(f"{debian[name].metadata['Name']}=={debian[name].version}\n" for name in provided)
    return None


def check_deps(site, dist_packages, machine):
    found = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions(path=[site, dist_packages])}
    problems = []
    for dist in metadata.distributions(path=[site]):
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"platform_machine": machine, "extra": ""}):
                continue
            version = found.get(canonicalize_name(req.name))
            if version is None or not req.specifier.contains(version, prereleases=True):
                problems.append(f"{dist.metadata['Name']} needs {req}, found {version or 'nothing'}")
    return "; ".join(problems) or None


def compiler(root, qemu, cache, cpu, release):
    """The root's gcc as CACHE/bin/cc, the CC of the emulated programs. qemu user mode emulates one
    process, and gcc is four (the driver, cc1, as, and ld through collect2). Without qemu
    registered with binfmt_misc the kernel cannot exec the driver's ARM children, so the driver
    runs them through a host script (gcc's -wrapper, CACHE/gcc/run) that starts each under qemu,
    and collect2 finds the root's ld as `real-ld` in a -B folder. --sysroot points it at the root's
    headers and libraries, which qemu's path translation does not always reach (not through
    statx). The compiler, headers and libraries are Debian's armhf gcc and libc6-dev, unchanged."""
    import os
    from shlex import quote

    shim = os.path.join(cache, "gcc")
    r, q = quote(root), quote(qemu)
    scripts = {
        os.path.join(shim, "run"): [
            "# gcc's -wrapper: one of gcc's programs (cc1, as, collect2) under qemu, found in the root.",
            'prog=$1; shift',
            'case "$prog" in',
            f'    {r}/*) ;;',
            f'    /*) [ -e {r}"$prog" ] && prog={r}"$prog" ;;',
            f'    *) prog={r}/usr/bin/"$prog" ;;',
            'esac',
            f'QEMU_LD_PREFIX={r} exec {q} "$prog" "$@"'],
        os.path.join(shim, "real-ld"): [
            "# The root's ld under qemu, which collect2 finds in gcc's -B folder.",
            f'QEMU_LD_PREFIX={r} exec {q} {r}/usr/bin/arm-linux-gnueabihf-ld.bfd "$@"'],
        os.path.join(cache, "bin", "cc"): [
            f"# Debian {release}'s gcc under qemu user mode.",
            "unset QEMU_ARGV0 PYTHONHOME",
            f'export QEMU_LD_PREFIX={r} QEMU_CPU="${{QEMU_CPU:-{cpu}}}"',
            f'exec {q} {r}/usr/bin/gcc --sysroot={r} -wrapper {quote(shim + "/run")} -B {quote(shim + "/")} "$@"'],
    }
    for path, lines in scripts.items():
        text = "\n".join(["#!/bin/sh", "# Written by scripts/pi_emulation.sh (pi_emulation_packages.py compiler)."]
                         + lines) + "\n"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path) or open(path).read() != text:
            with open(path + ".partial", "w") as f:
                f.write(text)
            os.chmod(path + ".partial", 0o755)
            os.replace(path + ".partial", path)


COMMANDS = {"mirror": mirror, "requirements": requirements, "split-debian": split_debian, "check-deps": check_deps,
            "compiler": compiler}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(COMMANDS)} ARG...")
    sys.exit(COMMANDS[sys.argv[1]](*sys.argv[2:]))
