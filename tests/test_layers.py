"""The repository's layers: the library packages never import a top-level script (the scripts are
where a newcomer starts, and they use the packages, not the reverse), and every requirement set the
repository names exists where it says."""
import ast
import re
from pathlib import Path
from typing import List, Tuple

from conftest import ROOT

# Every *.py at the root is a script, so a new one is covered without editing this test. This
# includes train_config and train_loss: dataset/ and evaluation/ stand alone (as the original RVM's
# evaluation scripts did) and import neither.
SCRIPTS = frozenset(path.stem for path in ROOT.glob('*.py'))
PACKAGES = sorted(path.parent.name for path in ROOT.glob('*/__init__.py'))

def script_imports(source: str) -> List[Tuple[int, str]]:
    """(line, script) of every import of a top-level script in `source`, in functions too;
    relative imports stay inside their package."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, name.split('.')[0]) for name in names if name.split('.')[0] in SCRIPTS]
    return found


def library_script_imports() -> List[Tuple[str, int, str]]:
    """(path, line, script) over every module of the library packages and their subpackages."""
    return [(path.relative_to(ROOT).as_posix(), line, script)
            for package in PACKAGES for path in sorted((ROOT / package).rglob('*.py'))
            for line, script in script_imports(path.read_text())]


def test_the_layers_are_what_this_test_assumes():
    assert {'model', 'streaming', 'exporters', 'webapp', 'dataset', 'evaluation'} <= set(PACKAGES)
    assert {'inference', 'export', 'train', 'train_config', 'hubconf'} <= SCRIPTS
    assert SCRIPTS.isdisjoint(PACKAGES)


def test_every_form_of_import_is_found():
    source = ('import inference\nimport os, live as camera\nfrom export import main\nimport train_config.sub\n'
              'def f():\n    from hubconf import mobilenetv3\n'
              'from . import inference\nfrom .export import x\nimport model.factory\nfrom streaming import Matter\n')
    assert script_imports(source) == [(1, 'inference'), (2, 'live'), (3, 'export'), (4, 'train_config'),
                                      (6, 'hubconf')]


def test_library_packages_import_no_top_level_script():
    found = [f'{path}:{line} imports {script}' for path, line, script in library_script_imports()]
    assert not found, 'move what these need out of the script into a package:\n' + '\n'.join(found)


def named_requirement_files() -> List[Tuple[str, Path]]:
    """(where, path) of every requirement file named in the code, the documentation, .ci/ and the
    requirement files themselves (`-r` relative to the including file, the rest to the root)."""
    requirement_files = [*ROOT.glob('requirements*.txt'), *(ROOT / 'requirements').glob('*.txt')]
    texts = [*ROOT.glob('*.py'), *ROOT.glob('*.md'), *(ROOT / 'documentation').glob('*.md'),
             *(ROOT / '.ci').iterdir(), *(ROOT / 'tests').glob('*.py'), *(ROOT / 'benchmarks').rglob('*.py'),
             *(path for package in PACKAGES for path in (ROOT / package).rglob('*.py')), *requirement_files]
    named = []
    for text in texts:
        where = text.relative_to(ROOT).as_posix()
        named += [(where, ROOT / name) for name in re.findall(r'requirements(?:_\w+|/[\w.-]+)\.txt', text.read_text())]
    for text in requirement_files:
        where = text.relative_to(ROOT).as_posix()
        named += [(where, text.parent / line.split()[1]) for line in text.read_text().splitlines()
                  if line.startswith('-r ')]
    return named


def test_every_named_requirement_file_exists():
    named = named_requirement_files()
    assert (('.ci/setup', ROOT / 'requirements' / 'dev.txt') in named
            and ('requirements/dev.txt', ROOT / 'requirements' / 'outputs.txt') in named)
    missing = sorted({f'{where} names {path.relative_to(ROOT)}' for where, path in named if not path.is_file()})
    assert not missing, '\n'.join(missing)
