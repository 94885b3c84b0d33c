"""The locks match the pins people edit: ``requirements.in`` → ``requirements.txt`` (what the Functions build
installs) and ``requirements-dev.in`` → ``requirements-dev.txt``. Offline: both sides are parsed, nothing resolved.

Regenerate with ``scripts/lock`` after editing a ``.in`` file (uv, every transitive dependency with hashes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.infra.iac import REPO

PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(?:;(?P<marker>[^\\]*))?\\?\s*$")
HASH = re.compile(r"^\s+--hash=sha256:[0-9a-f]{64}\s*\\?\s*$")
INCLUDE = re.compile(r"^-(?P<kind>[rc])\s+(?P<file>\S+)$")
REGENERATE = "run scripts/lock"


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Locked:
    version: str
    hashes: int = 0
    via: list[str] = field(default_factory=list)


def read_pins(path: Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """({name: version}, [(-r|-c, file)]) of a hand-edited .in file; anything but exact pins is refused."""
    pins: dict[str, str] = {}
    includes = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if include := INCLUDE.match(line):
            includes.append((include["kind"], include["file"]))
            continue
        pin = PIN.match(line)
        assert pin, f"{path.name}:{number}: {raw!r} is not an exact pin (name==version)"
        pins[normalized(pin["name"])] = pin["version"]
    return pins, includes


def read_lock(path: Path) -> dict[str, Locked]:
    """{name: Locked} of a generated lock, with its hashes and the `# via` lines uv writes."""
    locked: dict[str, Locked] = {}
    current: Locked | None = None
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        if pin := PIN.match(raw):
            current = locked[normalized(pin["name"])] = Locked(pin["version"])
            continue
        assert current is not None, f"{path.name}:{number}: {raw!r} before any pin"
        if HASH.match(raw):
            current.hashes += 1
        elif raw.strip().startswith("# via"):  # "# via X" for one reason, "# via" then "#   X" lines for more
            current.via += [rest] if (rest := raw.strip()[len("# via"):].strip()) else []
        elif raw.strip().startswith("#"):
            current.via.append(raw.strip().lstrip("#").strip())
        else:
            raise AssertionError(f"{path.name}:{number}: unexpected line {raw!r}")
    return locked


LOCKS = {"requirements.txt": "requirements.in", "requirements-dev.txt": "requirements-dev.in"}


def direct_pins(source: str) -> dict[str, str]:
    """The pins of a .in file and of the .in files it includes with -r."""
    pins, includes = read_pins(REPO / source)
    for kind, name in includes:
        if kind == "r":
            pins = {**direct_pins(name), **pins}
    return pins


class TestLocks:
    @pytest.mark.parametrize("lock,source", LOCKS.items())
    def test_every_direct_pin_is_locked_at_its_version(self, lock: str, source: str) -> None:
        locked = read_lock(REPO / lock)
        wrong = {name: (version, locked[name].version if name in locked else None)
                 for name, version in direct_pins(source).items()
                 if name not in locked or locked[name].version != version}
        assert not wrong, f"{lock} does not hold these pins of {source} ({{name: (pinned, locked)}}): {wrong}; " \
                          f"{REGENERATE}"

    @pytest.mark.parametrize("lock,source", LOCKS.items())
    def test_every_locked_package_has_hashes_and_a_reason(self, lock: str, source: str) -> None:
        """Nothing in a lock that no pin asks for: a pin removed from the .in file leaves the lock too."""
        locked = read_lock(REPO / lock)
        pins = direct_pins(source)
        includes = {f"-{kind} {name}" for kind, name in read_pins(REPO / source)[1]} | {f"-r {source}"}
        problems = []
        for name, entry in locked.items():
            if entry.hashes == 0:
                problems.append(f"{name} has no --hash")
            reasons = []
            for reason in entry.via:
                if reason.startswith(("-r ", "-c ")):
                    # A package named by a .in file must still be pinned there (a constraint alone is no reason).
                    if reason in includes and reason.startswith("-r ") and name in pins:
                        reasons.append(reason)
                elif normalized(reason) in locked:
                    reasons.append(reason)
            if not reasons:
                problems.append(f"{name}=={entry.version} is wanted by nothing pinned (via {entry.via})")
        assert not problems, f"{lock}: " + "; ".join(problems) + f"; {REGENERATE}"

    def test_tools_and_tests_run_on_the_deployed_versions(self) -> None:
        deployed = read_lock(REPO / "requirements.txt")
        development = read_lock(REPO / "requirements-dev.txt")
        differ = {name: (entry.version, development[name].version if name in development else None)
                  for name, entry in deployed.items()
                  if name not in development or development[name].version != entry.version}
        assert not differ, f"requirements-dev.txt differs from the deployed lock: {differ}; {REGENERATE}"
        assert ("c", "requirements.txt") in read_pins(REPO / "requirements-dev.in")[1]

    @pytest.mark.parametrize("lock", LOCKS)
    def test_the_lock_says_how_to_regenerate_it(self, lock: str) -> None:
        assert "#    scripts/lock" in (REPO / lock).read_text().splitlines()[1]

    def test_installs_use_the_locks(self) -> None:
        install = (REPO / "scripts" / "install").read_text()
        assert "-r requirements-dev.txt" in install and "--require-hashes" in install
        lock = (REPO / "scripts" / "lock").read_text()
        assert "--generate-hashes" in lock
        assert "requirements.in -o requirements.txt" in lock
        assert "requirements-dev.in -o requirements-dev.txt" in lock


class TestTheParser:
    def test_it_reads_pins_hashes_markers_and_reasons(self, tmp_path: Path) -> None:
        lock = tmp_path / "lock.txt"
        lock.write_text(
            "# generated\n#    scripts/lock\n"
            "cffi==2.1.1 ; platform_python_implementation != 'PyPy' \\\n"
            f"    --hash=sha256:{'a' * 64} \\\n    --hash=sha256:{'b' * 64}\n"
            "    # via\n    #   -r requirements.in\n    #   cryptography\n"
            "Typing_Extensions==4.16.0 \\\n"
            f"    --hash=sha256:{'c' * 64}\n    # via -r requirements.in\n"
        )
        assert read_lock(lock) == {
            "cffi": Locked("2.1.1", 2, ["-r requirements.in", "cryptography"]),
            "typing-extensions": Locked("4.16.0", 1, ["-r requirements.in"]),
        }

    def test_an_in_file_takes_exact_pins_only(self, tmp_path: Path) -> None:
        source = tmp_path / "requirements.in"
        source.write_text("# c\n-c requirements.txt\nPyJWT==2.15.1  # why\n")
        assert read_pins(source) == ({"pyjwt": "2.15.1"}, [("c", "requirements.txt")])
        source.write_text("aiohttp>=3\n")
        with pytest.raises(AssertionError, match="not an exact pin"):
            read_pins(source)
