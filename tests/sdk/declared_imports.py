"""Every third-party module an installed package imports comes from a distribution it declares (Requires-Dist).

Run by scripts/live-sdk with the Python of the venv the built wheel is installed in: a wheel that imports what it
does not declare works here (the project's .venv has everything) but fails for a customer who `pip install`s it.
  python tests/sdk/declared_imports.py switchboard-api-client
"""

from __future__ import annotations

import ast
import sys
from importlib import metadata

from packaging.requirements import Requirement


def main(distribution: str) -> int:
    dist = metadata.distribution(distribution)
    own = set((dist.read_text("top_level.txt") or "").split())
    files = [f for f in dist.files or () if f.suffix == ".py"]
    own |= {f.parts[0] for f in files}
    imported: set[str] = set()
    for file in files:
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - own - set(sys.stdlib_module_names) - {"__future__"}
    declared = {Requirement(r).name.lower().replace("_", "-") for r in dist.requires or ()}
    providers = metadata.packages_distributions()
    undeclared = {
        module: providers.get(module, ["(not installed)"])
        for module in sorted(third_party)
        if not declared & {p.lower().replace("_", "-") for p in providers.get(module, [])}
    }
    print(f"{distribution} {dist.version}: imports {', '.join(sorted(third_party))}")
    print(f"declares {', '.join(sorted(declared))}")
    for module, dists in undeclared.items():
        print(f"imports {module} (from {', '.join(dists)}) without declaring it")
    return 1 if undeclared else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
