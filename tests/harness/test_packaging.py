"""pyproject.toml's package list against the source tree: setuptools warns ("Package
'scenarios.presets' is absent from the packages configuration") for any shipped
folder missing from it, and would one day leave its files out of the wheel."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
ROOTS = ("metalearners_core", "scenarios", "harness")


def shipped_folders() -> set[str]:
    """Dotted names of the folders under the package roots that hold .py or .toml files."""
    folders = set()
    for root in ROOTS:
        for path in (ROOT / root).rglob("*"):
            if path.suffix in (".py", ".toml") and "__pycache__" not in path.parts:
                folders.add(".".join(path.parent.relative_to(ROOT).parts))
    return folders


def test_every_shipped_folder_is_a_listed_package_and_the_presets_are_package_data():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(setuptools["packages"]) == shipped_folders()
    presets = sorted(p.name for p in (ROOT / "scenarios" / "presets").glob("*.toml"))
    assert presets and setuptools["package-data"]["scenarios.presets"] == ["*.toml"]
