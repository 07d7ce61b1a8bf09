"""Package hygiene: the version, the typing marker, and public modules that list their API."""

import importlib
from pathlib import Path

import pytest

import dualdiff as dd

ROOT = Path(__file__).parent.parent
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11


def test_the_version_is_the_one_pyproject_gives():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert dd.__version__ == project["project"]["version"]


def test_the_package_is_marked_as_typed_and_ships_the_marker():
    assert (ROOT / "dualdiff" / "py.typed").exists()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["dualdiff"]


@pytest.mark.parametrize(
    "name",
    ["dualdiff", "dualdiff.optimize", "dualdiff.testing", "dualdiff.options", "dualdiff.nn",
     "dualdiff.optim", "dualdiff.sparse", "dualdiff.tensor", "dualdiff.scipy.special"],
)  # fmt: skip
def test_public_modules_list_their_api_and_every_name_exists(name):
    module = importlib.import_module(name)
    assert module.__all__ and len(set(module.__all__)) == len(module.__all__)
    for attr in module.__all__:
        assert hasattr(module, attr), f"{name}.__all__ names {attr}, which it lacks"
