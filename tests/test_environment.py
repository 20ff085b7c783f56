"""environment.yml (conda users) and pyproject.toml name the same packages with the same bounds."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STACK = {"jupyterlab", "papermill", "pandas", "matplotlib", "seaborn", "nbconvert", "statsmodels",
         "pytest", "nbval", "ipykernel", "pyyaml", "openpyxl"}


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = data["project"]["dependencies"] + data["project"]["optional-dependencies"]["dev"]
    return dict(_split(r) for r in reqs)


def conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, spec = _split(dep)
            if name not in ("python", "pip"):
                out[name] = spec
        else:  # the pip section: packages conda-forge does not carry
            for req in dep.get("pip", []):
                if not req.startswith("-"):
                    name, spec = _split(req)
                    out[name] = spec
    return out


def test_environment_yml_and_pyproject_agree():
    py, conda = pyproject_requirements(), conda_requirements()
    assert set(py) == set(conda), f"only in pyproject: {set(py) - set(conda)}; only in environment.yml: {set(conda) - set(py)}"
    assert {k: v for k, v in py.items() if conda[k] != v} == {}, "lower bounds differ"


def test_every_dependency_has_a_tested_lower_bound_and_covers_the_stack():
    py = pyproject_requirements()
    assert STACK <= set(py)
    assert all(spec.startswith(">=") for spec in py.values()), py


def test_environment_pins_python_311_and_installs_the_project():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = [d for d in env["dependencies"] if isinstance(d, dict)][0]["pip"]
    assert any(p.endswith("-e .") for p in pip)


def test_installed_versions_meet_the_bounds():
    from importlib.metadata import version

    for name, spec in pyproject_requirements().items():
        have = tuple(int(x) for x in re.findall(r"\d+", version(name))[:3])
        want = tuple(int(x) for x in re.findall(r"\d+", spec)[:3])
        assert have[:len(want)] >= want, f"{name} {version(name)} is below {spec}"
