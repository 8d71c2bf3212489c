"""Print the serving image's requirements: every distribution the scoring service needs, pinned to the
version installed here, where the model was trained. `make bento` writes them into the Bento.

Why not the leadscore wheel's own dependencies: those are the whole tool's (Dask, shap for training); the
image installs only what `leadscore.serving.service` imports, plus everything those need, and the versions
are this environment's, so the image scores with the libraries the model was fitted and checked with.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

from packaging.requirements import Requirement


def canonical(name: str) -> str:
    """PEP 503 name: `Jinja2`, `jinja2` and `jinja_2` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    """Canonical name -> installed version."""
    return {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}


def service_roots() -> set[str]:
    """leadscore's declared dependencies that the service module imports (its import closure)."""
    import leadscore.serving.service  # noqa: F401  (imported for the modules it loads)

    owners = metadata.packages_distributions()
    loaded = {canonical(d) for module in list(sys.modules) for d in owners.get(module.split(".")[0], [])}
    declared = {canonical(Requirement(r).name) for r in metadata.requires("leadscore") or [] if "extra" not in r}
    return declared & loaded


def closure(roots: set[str], versions: dict[str, str]) -> dict[str, str]:
    """The roots and everything they require (markers evaluated here, extras not followed), pinned."""
    pinned: dict[str, str] = {}
    todo = sorted(roots)
    while todo:
        name = todo.pop()
        if name in pinned or name not in versions:
            continue
        pinned[name] = versions[name]
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonical(requirement.name))
    return pinned


OPTIONAL = ("psycopg[binary]>=3.2,<4",)
"""Not imported unless configured (the Postgres driver for LEADSCORE_FEEDBACK_DB=postgresql+psycopg://...), so
not found by the import closure, and not installed here to pin."""


def main() -> None:
    """Print `name==version` lines, sorted, then the optional drivers."""
    for name, version in sorted(closure(service_roots(), installed()).items()):
        print(f"{name}=={version}")
    print("\n".join(OPTIONAL))


if __name__ == "__main__":
    main()
