"""The two Lambda layers: third-party dependencies, and the shared ``snsflow`` package.

Both are bundled locally (``ILocalBundling``), never in Docker: the dependencies layer copies
the pip build of ``infra.layer_build`` (building it first if needed, with byte code), the code
layer copies ``snsflow/`` to ``python/snsflow`` and compiles it for the runtime's Python. Tests
skip bundling altogether (context ``aws:cdk:bundling-stacks = []``), so they never run pip.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, cast

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import PROJECT_ROOT
from infra.layer_build import (
    LAYER_REQUIREMENTS,
    Architecture,
    build_dependencies_layer,
    compile_bytecode,
)

#: Never copied: local byte code is for another Python (the bundler compiles its own).
_IGNORED = ("__pycache__", "*.pyc")
#: Parts of ``snsflow`` that run on an operator's machine, never in a function.
_OPERATOR_ONLY = ("cli", "local")
#: Required by the bundling API; never pulled because local bundling always succeeds.
_UNUSED_IMAGE = DockerImage.from_registry("public.ecr.aws/docker/library/busybox:stable")


@jsii.implements(ILocalBundling)
class CopyIntoLayer:
    """Copies a folder to ``<output>/python/<name>``, where the Python runtime imports from, and
    compiles it."""

    def __init__(self, source: Path, name: str, *, skip: tuple[str, ...] = ()) -> None:
        self._source = source
        self._name = name
        #: Sub-packages (top level of ``source``) left out.
        self._skip = skip

    def try_bundle(self, output_dir: str, options: Any) -> bool:  # noqa: ARG002 (jsii API)
        ignore_cached = shutil.ignore_patterns(*_IGNORED)

        def ignore(folder: str, names: list[str]) -> set[str]:
            skipped = set(self._skip) if Path(folder) == self._source else set()
            return set(ignore_cached(folder, names)) | (skipped & set(names))

        shutil.copytree(
            self._source,
            Path(output_dir) / "python" / self._name,
            ignore=ignore,
            dirs_exist_ok=True,
        )
        compile_bytecode(Path(output_dir) / "python" / self._name)
        return True


@jsii.implements(ILocalBundling)
class DependenciesLayerBundler:
    """Builds the dependencies layer with ``pip install --platform`` and copies it."""

    def __init__(self, architecture: Architecture) -> None:
        self._architecture = architecture

    def try_bundle(self, output_dir: str, options: Any) -> bool:  # noqa: ARG002 (jsii API)
        built = build_dependencies_layer(self._architecture)
        shutil.copytree(built / "python", Path(output_dir) / "python", dirs_exist_ok=True)
        return True


def _local_bundling(bundler: object) -> BundlingOptions:
    return BundlingOptions(image=_UNUSED_IMAGE, local=cast(ILocalBundling, bundler))


class FunctionLayers(Construct):
    """The layers every snsflow function uses, in import-precedence order."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
        architecture_name: Architecture,
    ) -> None:
        super().__init__(scope, id)
        self.dependencies = lambda_.LayerVersion(
            self,
            "Dependencies",
            description="snsflow: third-party runtime dependencies (layers/requirements.txt)",
            code=lambda_.Code.from_asset(
                str(LAYER_REQUIREMENTS.parent),
                bundling=_local_bundling(DependenciesLayerBundler(architecture_name)),
            ),
            compatible_runtimes=[runtime],
            compatible_architectures=[architecture],
        )
        self.code = lambda_.LayerVersion(
            self,
            "Code",
            description="snsflow: the shared domain package",
            code=lambda_.Code.from_asset(
                str(PROJECT_ROOT / "snsflow"),
                exclude=[*_IGNORED, *(f"{name}/" for name in _OPERATOR_ONLY)],
                bundling=_local_bundling(
                    CopyIntoLayer(PROJECT_ROOT / "snsflow", "snsflow", skip=_OPERATOR_ONLY)
                ),
            ),
            compatible_runtimes=[runtime],
            compatible_architectures=[architecture],
        )

    @property
    def all(self) -> list[lambda_.ILayerVersion]:
        return [self.code, self.dependencies]
