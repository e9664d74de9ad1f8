"""Where the export toolchains live: separate environments that .ci/setup installs, since their
pins (TensorFlow's numpy and protobuf) would break the main .venv.

Each is found at the repository root (`.venv-export`, `.venv-tfjs`, `.venv-coreml`,
`.node-export/node_modules`, `.node-web/node_modules`) or at the path in an environment variable of
the same role.
"""
import os
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent

# role: (environment variable, default path relative to ROOT, the requirements or install hint)
TOOLCHAINS = {
    'tensorflow': ('RVM_EXPORT_PYTHON', '.venv-export/bin/python', 'requirements/export.txt'),
    'tfjs': ('RVM_TFJS_PYTHON', '.venv-tfjs/bin/python', 'requirements/export_tfjs.txt'),
    'coreml': ('RVM_COREML_PYTHON', '.venv-coreml/bin/python', 'requirements/export_coreml.txt'),
    'node_modules': ('RVM_NODE_MODULES', '.node-export/node_modules', 'package.json in .ci/setup'),
    'web_modules': ('RVM_WEB_MODULES', '.node-web/node_modules', 'web/package.json'),
}


class ToolchainMissing(RuntimeError):
    """An export toolchain is not installed where it is looked for."""


def toolchain(role: str) -> Path:
    """The interpreter (or node_modules folder) for `role`; a one-line error naming what to install."""
    variable, default, source = TOOLCHAINS[role]
    path = Path(os.environ.get(variable) or ROOT / default)
    if not path.exists():
        raise ToolchainMissing(f'{role} toolchain not found at {path}: run `bash .ci/setup` (installs {source}) '
                               f'or set {variable}')
    return path


def run_in(role: str, args: List[str], env: Optional[Dict[str, str]] = None) -> str:
    """Run `python args...` in the environment of `role` from the repository root; returns stdout,
    raises with the tool's last lines of output when it fails."""
    full_env = {**os.environ, 'PYTHONPATH': str(ROOT), **(env or {})}
    result = subprocess.run([str(toolchain(role)), *args], cwd=ROOT, env=full_env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = '\n'.join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f'{role} step `{" ".join(args[:3])} ...` failed (exit {result.returncode}):\n{tail}')
    return result.stdout
