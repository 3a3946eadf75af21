"""Every capability package's `__all__` resolves, and importing a package loads none of it."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ["decp.core", "decp.context", "decp.handoff", "decp.agents", "decp.gtd", "decp.dbt"]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_resolves(name: str) -> None:
    package = importlib.import_module(name)
    assert package.__all__, name
    for public in package.__all__:
        assert getattr(package, public) is not None, f"{name}.{public}"


def test_a_missing_name_is_an_attribute_error() -> None:
    import decp.handoff

    with pytest.raises(AttributeError, match=r"module 'decp\.handoff' has no attribute 'nope'"):
        decp.handoff.nope  # noqa: B018


def test_importing_a_package_loads_none_of_its_modules() -> None:
    """The statusline and hooks import packages on every turn; that must stay cheap."""
    probe = (
        "import sys, decp.handoff, decp.context, decp.agents; "
        "print(sorted(m for m in sys.modules if m.startswith('decp.') and m.count('.') > 1))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['decp.core.lazy']"
