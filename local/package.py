"""The deployment package, built as ``func pack`` builds it: the app files that ``.funcignore`` lets through plus
the locked dependencies (``requirements.txt``, hash-checked) installed for the Functions host (Linux x86_64,
CPython 3.11) into ``.python_packages/lib/site-packages``, zipped.

Elastic Premium runs from this zip (docs/deployment.md section 12); for Flex Consumption the remote build makes
the same tree from the same lock. ``python -m local.package [--output PATH]`` builds it and prints its size.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PackageSize", "app_files", "build", "funcignore_patterns", "ignored"]

REPO = Path(__file__).resolve().parents[1]
SITE_PACKAGES = ".python_packages/lib/site-packages"
HOST_PLATFORM = ["--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.11",
                 "--only-binary=:all:"]


def funcignore_patterns(repo: Path = REPO) -> list[str]:
    lines = (repo / ".funcignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """gitignore-style matching, enough for .funcignore: dir/ patterns, anchored and basename patterns."""
    parts = path.split("/")
    result = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        directory_only = pattern.endswith("/")
        pattern = pattern.rstrip("/")
        anchored = "/" in pattern
        candidates = []
        for depth in range(1, len(parts) + 1):
            is_directory = depth < len(parts)
            if directory_only and not is_directory:
                continue
            prefix = "/".join(parts[:depth])
            candidates.append(prefix if anchored else parts[depth - 1])
        if any(fnmatch.fnmatchcase(candidate, pattern.lstrip("/")) for candidate in candidates):
            result = not negate
    return result


def app_files(repo: Path = REPO) -> list[str]:
    """Repository-relative paths of the files the package carries (dependencies aside)."""
    patterns = funcignore_patterns(repo)
    found = []
    for root, directories, files in os.walk(repo):
        relative_root = Path(root).relative_to(repo).as_posix()
        prefix = "" if relative_root == "." else relative_root + "/"
        # A directory counts as ignored when a file inside it would be.
        directories[:] = sorted(d for d in directories
                                if not ignored(f"{prefix}{d}/x", patterns) and d != ".python_packages")
        found += [f"{prefix}{name}" for name in sorted(files) if not ignored(f"{prefix}{name}", patterns)]
    return found


@dataclass(frozen=True)
class PackageSize:
    app_files: int
    app_bytes: int
    dependency_files: int
    dependency_bytes: int
    zip_bytes: int


def _install_dependencies(lock: Path, target: Path) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
               "--require-hashes", "--no-compile", "--target", str(target), *HOST_PLATFORM, "-r", str(lock)]
    # The lock is complete and hash-checked; a machine-wide pip constraint file has no say in it.
    environment = {**os.environ, "PIP_CONSTRAINT": ""}
    subprocess.run(command, check=True, env=environment)


def build(output: Path, repo: Path = REPO) -> PackageSize:
    """Write the package zip to ``output`` and return what it holds."""
    files = app_files(repo)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="connector-package-") as scratch:
        site_packages = Path(scratch) / SITE_PACKAGES
        _install_dependencies(repo / "requirements.txt", site_packages)
        dependencies = sorted(p for p in site_packages.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in files:
                archive.write(repo / name, name)
            for path in dependencies:
                archive.write(path, path.relative_to(scratch).as_posix())
        return PackageSize(
            app_files=len(files),
            app_bytes=sum((repo / name).stat().st_size for name in files),
            dependency_files=len(dependencies),
            dependency_bytes=sum(p.stat().st_size for p in dependencies),
            zip_bytes=output.stat().st_size,
        )


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / ".local" / "package" / "connector.zip")
    args = parser.parse_args(argv)
    size = build(args.output)
    print(f"package {args.output}: {_megabytes(size.zip_bytes)} zipped")
    print(f"  app files      {size.app_files:>6} files {_megabytes(size.app_bytes):>10}")
    print(f"  dependencies   {size.dependency_files:>6} files {_megabytes(size.dependency_bytes):>10} unpacked "
          f"({SITE_PACKAGES})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
