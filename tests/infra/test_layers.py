"""The Lambda layers: what goes into them and how they are built (pip runs only offline,
against wheels the tests make)."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
import zipfile
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path
from typing import cast

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra import layer_build
from infra.config import PROJECT_ROOT
from infra.functions import RUNTIME
from infra.layers import CopyIntoLayer, DependenciesLayerBundler


def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{line} is not pinned"
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


LAYER_PINS = _pins(layer_build.LAYER_REQUIREMENTS)
RUNTIME_PINS = _pins(PROJECT_ROOT / "requirements.txt")
#: The CDK app's own dependencies: never needed by a function.
CDK_ONLY = {"aws-cdk-lib", "constructs", "cdk-nag"}


def test_layer_pins_agree_with_requirements_txt() -> None:
    for name, version in RUNTIME_PINS.items():
        if name in CDK_ONLY or name in layer_build.RUNTIME_PROVIDED:
            assert name not in LAYER_PINS, f"{name} does not belong in the layer"
        else:
            assert LAYER_PINS.get(name) == version, f"{name}: layer pin differs"


def test_layer_requirements_are_complete_for_the_lambda_runtime() -> None:
    """Installed with --no-deps, so every dependency must be listed or come with the runtime."""
    environment = cast(dict[str, str], default_environment())
    environment["python_version"] = layer_build.PYTHON_VERSION
    listed = set(LAYER_PINS) | set(layer_build.RUNTIME_PROVIDED)
    extras = {"aws-lambda-powertools": {"tracer"}}
    for name in LAYER_PINS:
        try:
            declared = requires(name) or []
        except PackageNotFoundError:
            pytest.fail(f"{name} is in the layer but not installed in .venv")
        for text in declared:
            requirement = Requirement(text)
            chosen = extras.get(name, set()) | {""}
            if requirement.marker and not any(
                requirement.marker.evaluate({**environment, "extra": extra}) for extra in chosen
            ):
                continue
            assert canonicalize_name(requirement.name) in listed, (
                f"{name} needs {requirement.name}, which the layer lacks"
            )


def test_layer_is_built_for_the_functions_runtime_and_architectures() -> None:
    assert RUNTIME.name == f"python{layer_build.PYTHON_VERSION}"
    assert set(layer_build.WHEEL_PLATFORMS) == {"arm64", "x86_64"}
    command = layer_build.pip_install_command("arm64", Path("req.txt"), Path("out"))
    assert command[:3] == [sys.executable, "-m", "pip"]
    options = " ".join(command)
    platforms = [command[i + 1] for i, option in enumerate(command) if option == "--platform"]
    assert platforms == list(layer_build.WHEEL_PLATFORMS["arm64"])
    assert f"--python-version {layer_build.PYTHON_VERSION}" in options
    assert "--only-binary=:all:" in options
    assert "--no-deps" in options
    assert "--target out" in options


def test_platform_tags_are_every_manylinux_level_of_the_runtimes_glibc_newest_first() -> None:
    arm = layer_build.WHEEL_PLATFORMS["arm64"]
    assert arm[0] == "manylinux_2_34_aarch64"
    assert {"manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"} <= set(arm)
    assert len(arm) == len(set(arm)) == (34 - 17 + 1) + 1  # and the manylinux2014 spelling
    x86 = layer_build.WHEEL_PLATFORMS["x86_64"]
    assert {"manylinux_2_34_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"} <= set(x86)
    assert all(tag.endswith("_x86_64") for tag in x86)


def _digest(data: bytes) -> str:
    """A file's hash as a wheel's RECORD writes it."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _wheel(folder: Path, name: str, platform: str) -> None:
    """A minimal binary wheel of ``name`` 1.0 for the runtime's CPython, tagged ``platform``."""
    python = "cp" + layer_build.PYTHON_VERSION.replace(".", "")
    dist_info = f"{name}-1.0.dist-info"
    files = {
        f"{name}/__init__.py": f"PLATFORM = {platform!r}\n".encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: false\n"
            f"Tag: {python}-{python}-{platform}\n"
        ).encode(),
    }
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    with zipfile.ZipFile(folder / f"{name}-1.0-{python}-{python}-{platform}.whl", "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)


@pytest.mark.parametrize(
    ("architecture", "platform", "installed"),
    [
        ("arm64", "manylinux2014_aarch64", True),
        ("arm64", "manylinux_2_28_aarch64", True),
        ("arm64", "manylinux_2_34_aarch64", True),
        ("arm64", "manylinux_2_35_aarch64", False),  # newer than the runtime's glibc
        ("arm64", "manylinux_2_28_x86_64", False),  # another CPU
        ("x86_64", "manylinux1_x86_64", True),
        ("x86_64", "manylinux_2_34_x86_64", True),
    ],
)
def test_pip_takes_exactly_the_wheels_the_runtime_loads(
    tmp_path: Path, architecture: layer_build.Architecture, platform: str, installed: bool
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "probe", platform)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("probe==1.0\n")
    target = tmp_path / "layer"
    command = layer_build.pip_install_command(architecture, requirements, target)
    done = subprocess.run(
        [*command, "--no-index", "--find-links", str(wheels)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode == 0) is installed, done.stderr
    assert (target / "probe" / "__init__.py").is_file() is installed


def test_a_build_is_reused_without_running_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layer_build, "BUILD_ROOT", tmp_path)
    built = layer_build.build_dir("arm64") / "python"
    built.mkdir(parents=True)
    (built / "marker.py").write_text("")
    monkeypatch.setattr(subprocess, "run", _no_subprocess)

    output = tmp_path / "asset"
    assert DependenciesLayerBundler("arm64").try_bundle(str(output), None)
    assert (output / "python" / "marker.py").is_file()


def test_a_failed_pip_run_reports_pips_error_and_leaves_no_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layer_build, "BUILD_ROOT", tmp_path)
    monkeypatch.setattr(
        layer_build,
        "pip_install_command",
        lambda *_: [sys.executable, "-c", "import sys; sys.exit('no matching distribution')"],
    )
    with pytest.raises(RuntimeError, match="no matching distribution"):
        layer_build.build_dependencies_layer("x86_64")
    assert not layer_build.build_dir("x86_64").exists()


def test_build_location_changes_with_the_requirements(tmp_path: Path) -> None:
    first = tmp_path / "a.txt"
    second = tmp_path / "b.txt"
    first.write_text("pydantic==2.14.3\n")
    second.write_text("pydantic==2.14.2\n")
    assert layer_build.build_dir("arm64", first) != layer_build.build_dir("arm64", second)
    assert layer_build.build_dir("arm64", first) != layer_build.build_dir("x86_64", first)


@pytest.fixture
def runtime_python() -> str:
    python = layer_build.runtime_python()
    if python is None:
        pytest.skip(f"no Python {layer_build.PYTHON_VERSION} here: layers ship without byte code")
    return python


def test_code_layer_puts_the_package_where_the_runtime_imports_it_with_runtime_byte_code(
    tmp_path: Path, runtime_python: str
) -> None:
    source = tmp_path / "snsflow"
    (source / "store" / "__pycache__").mkdir(parents=True)
    (source / "__init__.py").write_text("")
    (source / "store" / "tables.py").write_text("TABLES = ()\n")
    (source / "store" / "__pycache__" / "tables.cpython-311.pyc").write_bytes(b"\0")

    output = tmp_path / "asset"
    assert CopyIntoLayer(source, "snsflow").try_bundle(str(output), None)
    files = sorted(str(p.relative_to(output)) for p in output.rglob("*") if p.is_file())
    tag = "cpython-" + layer_build.PYTHON_VERSION.replace(".", "")
    assert files == [
        "python/snsflow/__init__.py",
        f"python/snsflow/__pycache__/__init__.{tag}.pyc",
        f"python/snsflow/store/__pycache__/tables.{tag}.pyc",
        "python/snsflow/store/tables.py",
    ]
    # Loaded without looking at the source's mtime: asset copies do not keep it.
    flags = (output / f"python/snsflow/store/__pycache__/tables.{tag}.pyc").read_bytes()[4:8]
    assert int.from_bytes(flags, "little") == 0b01  # hash-based, unchecked


def test_byte_code_is_compiled_by_the_runtimes_python_version(runtime_python: str) -> None:
    done = subprocess.run(
        [runtime_python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == layer_build.PYTHON_VERSION == RUNTIME.name.removeprefix("python")


def test_a_module_that_does_not_compile_fails_the_layer_build(
    tmp_path: Path, runtime_python: str
) -> None:
    source = tmp_path / "snsflow"
    source.mkdir()
    (source / "broken.py").write_text("def broken(:\n")
    with pytest.raises(RuntimeError, match=r"compiling byte code .* failed(.|\n)*broken\.py"):
        CopyIntoLayer(source, "snsflow").try_bundle(str(tmp_path / "asset"), None)


def test_the_code_layer_leaves_out_what_only_operators_run(tmp_path: Path) -> None:
    source = tmp_path / "snsflow"
    for package in ("cli", "local", "store"):
        (source / package).mkdir(parents=True)
        (source / package / "__init__.py").write_text("")
    (source / "__init__.py").write_text("")
    bundler = CopyIntoLayer(source, "snsflow", skip=("cli", "local"))
    assert bundler.try_bundle(str(tmp_path / "asset"), None)
    packaged = tmp_path / "asset" / "python" / "snsflow"
    packages = sorted(p.name for p in packaged.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert packages == ["store"]


def test_without_the_runtimes_python_the_layer_ships_source_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(layer_build, "runtime_python", lambda: None)
    source = tmp_path / "snsflow"
    source.mkdir()
    (source / "__init__.py").write_text("")
    assert CopyIntoLayer(source, "snsflow").try_bundle(str(tmp_path / "asset"), None)
    files = [p.name for p in (tmp_path / "asset").rglob("*") if p.is_file()]
    assert files == ["__init__.py"]
    assert f"no Python {layer_build.PYTHON_VERSION}" in capsys.readouterr().err


def test_functions_import_shared_code_only_from_the_snsflow_package() -> None:
    """In Lambda a function's asset is its own folder: sibling imports would break there."""
    for handler in sorted((PROJECT_ROOT / "functions").glob("*/*.py")):
        for line in handler.read_text().splitlines():
            assert not re.match(r"\s*(from|import)\s+functions\b", line), f"{handler}: {line}"


def _no_subprocess(*args: object, **kwargs: object) -> None:
    raise AssertionError("pip must not run when the build exists")
