"""The steps of scripts/pi_emulation.sh written in Python, run by the host's Python:

  mirror                                   the Debian mirror this machine's apt uses
  requirements PYPROJECT EXTRA...          the project's dependencies plus those extras', one per line
  split-debian REQS DIST_PACKAGES PINS PACKAGE...
                                           of REQS, print those pip must install; write to PINS the
                                           versions of PACKAGEs Debian's root provides (checked
                                           against the requirements that name them)
  check-deps SITE DIST_PACKAGES MACHINE    every dependency of what pip put in SITE is met by SITE
                                           or Debian's packages

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


COMMANDS = {"mirror": mirror, "requirements": requirements, "split-debian": split_debian, "check-deps": check_deps}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(COMMANDS)} ARG...")
    sys.exit(COMMANDS[sys.argv[1]](*sys.argv[2:]))
