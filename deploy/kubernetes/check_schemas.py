"""Validate rendered Kubernetes manifests against the Kubernetes JSON schemas, offline.

Runs in the checks environment (.venv-deploy, from requirements-checks.lock), which has
kubernetes-validate (the schemas of every Kubernetes release from 1.25 on, in the
package) and jsonschema:

    .venv-deploy/bin/kubectl kustomize deploy/kubernetes/overlays/production > out.yaml
    .venv-deploy/bin/python deploy/kubernetes/check_schemas.py out.yaml

Every document is checked strictly (an unknown field is an error) against each of
--kubernetes-version (default: 1.30, the oldest release these manifests support, and
the newest the package knows). The Prometheus operator's ServiceMonitor is checked
against schemas/servicemonitor-monitoring.coreos.com-v1.json, a schema of the fields the
manifests use. A document of any other kind without a schema is an error, not a skip.

Prints one JSON object: {"documents": n, "errors": [...], "versions": [...]}; exits 1
when there is an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import latest_version

SCHEMAS = Path(__file__).parent / "schemas"
# Custom resources: apiVersion and kind -> the schema file in SCHEMAS.
CUSTOM = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring.coreos.com-v1.json",
}
# The oldest release the manifests support: the preStop hook's sleep action is on by
# default from 1.30.
OLDEST = "1.30"


def documents(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def check(doc: dict[str, Any], versions: list[str]) -> list[str]:
    """The errors of one document, each a line of text."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key in CUSTOM:
        schema = json.loads((SCHEMAS / CUSTOM[key]).read_text(encoding="utf-8"))
        validator = jsonschema.Draft202012Validator(schema)
        return [
            f"{'.'.join(map(str, error.absolute_path)) or '(document)'}: {error.message}"
            for error in validator.iter_errors(doc)
        ]
    errors = []
    for version in versions:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(map(str, error.path)) or "(document)"
            errors.append(f"Kubernetes {version}: {where}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            errors.append(f"Kubernetes {version}: no schema: {error.message}")
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--kubernetes-version", action="append", dest="versions")
    args = parser.parse_args()
    versions = args.versions or [OLDEST, ".".join(latest_version().split(".")[:2])]
    report: dict[str, Any] = {"versions": versions, "documents": 0, "errors": []}
    for path in args.files:
        for doc in documents(path):
            report["documents"] += 1
            name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            for error in check(doc, versions):
                report["errors"].append({"file": str(path), "resource": name, "error": error})
    print(json.dumps(report, indent=2))
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
