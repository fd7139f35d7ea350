"""The dbt project as dagster-dbt sees it, with its manifest prepared by numlake itself.

`@dbt_assets` needs `manifest.json` when definitions load; `prepare_if_dev()` only acts under
`dagster dev`, so the CLI, tests and CI call `ensure_manifest` first. The manifest and every
dbt artefact live under the home folder (`<home>/dbt/target`), never in the working tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from numlake.errors import UsageError
from numlake.paths import DBT_PROJECT_DIR, Home


def target_path(home: Home) -> Path:
    return home.root / "dbt" / "target"


def dbt_executable() -> str:
    return str(Path(sys.executable).parent / "dbt")


def project_fingerprint(root: Path = DBT_PROJECT_DIR) -> str:
    """Hash of every file dbt parses, so the manifest is rebuilt exactly when the project changes.
    Hidden files are not the project's: dbt itself writes `.user.yml` beside profiles.yml when run
    by hand with usage statistics on."""
    h = hashlib.sha256()
    for p in _project_files(root):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _project_files(root: Path) -> list[Path]:
    return [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and p.suffix in {".sql", ".yml", ".yaml", ".csv", ".md"}
        and "target" not in p.parts
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]


# What a dbt project's files hold that cannot change a warehouse row: docs and tests
NOT_RULES = frozenset({"description", "docs", "doc_blocks", "data_tests", "tests", "unit_tests"})
MACRO_BLOCK = re.compile(r"\{%-?\s*macro\s+(\w+)\s*\(.*?\{%-?\s*endmacro\s*-?%\}", re.S)
ENGINE_PREFIXES = {"duckdb": "duckdb__", "spark": "spark__"}  # adapter.dispatch's names per engine


def _without_docs(value):
    if isinstance(value, dict):
        return {k: _without_docs(v) for k, v in value.items() if k not in NOT_RULES}
    if isinstance(value, list):
        return [_without_docs(v) for v in value]
    return value


def rules_fingerprint(engine: str, root: Path = DBT_PROJECT_DIR) -> str:
    """Hash of what the warehouse's rows can depend on when built on `engine`: what
    `project_fingerprint` hashes, less what cannot change a row. Left out are the docs (`.md`
    files, `description` and `docs` in YAML, YAML comments), the tests (the project's test
    paths, `data_tests`/`tests`/`unit_tests` in YAML) and the macros another engine's dispatch
    picks (`spark__*` for a DuckDB home, `duckdb__*` for a Spark one). Everything else counts,
    SQL comments included: a change there rebuilds the incremental tables from scratch
    (`warehouse_current`)."""
    import yaml

    load = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    conf = yaml.load((root / "dbt_project.yml").read_text(encoding="utf-8"), Loader=load) or {}
    tests = tuple(conf.get("test-paths") or ["tests"])
    macros = tuple(conf.get("macro-paths") or ["macros"])
    others = tuple(prefix for name, prefix in ENGINE_PREFIXES.items() if name != engine)
    h = hashlib.sha256(engine.encode())
    for p in _project_files(root):
        rel = p.relative_to(root)
        if p.suffix == ".md" or rel.parts[0] in tests:
            continue
        if p.suffix in {".yml", ".yaml"}:
            data = _without_docs(yaml.load(p.read_text(encoding="utf-8"), Loader=load))
            body = json.dumps(data, sort_keys=True, default=str).encode()
        elif p.suffix == ".sql" and rel.parts[0] in macros:
            text = p.read_text(encoding="utf-8")
            body = MACRO_BLOCK.sub(lambda m: "" if m.group(1).startswith(others) else m.group(0), text).encode()
        else:
            body = p.read_bytes()
        h.update(str(rel).encode() + b"\0" + body + b"\0")
    return h.hexdigest()


def warehouse_current(home: Home, engine: str) -> bool:
    """Whether the home's warehouse was built under the rules of today's dbt project (see
    `rules_fingerprint`), so its incremental tables may continue. A marker written before the
    rules fingerprint existed holds the project fingerprint, and is current when no file changed."""
    marker = target_path(home).parent / "warehouse_built_with"
    if not home.warehouse.exists() or not marker.exists():
        return False
    return marker.read_text() in {_cached_rules_fingerprint(home, engine), project_fingerprint()}


def record_warehouse_built(home: Home, engine: str) -> None:
    (target_path(home).parent / "warehouse_built_with").write_text(_cached_rules_fingerprint(home, engine))


def _cached_rules_fingerprint(home: Home, engine: str) -> str:
    """`rules_fingerprint`, kept in the home per project fingerprint (parsing ~40 YAML files costs
    more than hashing them)."""
    stamp = target_path(home) / ".rules_fingerprint"
    key = f"{engine}:{project_fingerprint()}"
    if stamp.exists():
        kept_key, _, kept = stamp.read_text().partition(" ")
        if kept_key == key:
            return kept
    fp = rules_fingerprint(engine)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(f"{key} {fp}")
    return fp


def ensure_manifest(home: Home) -> Path:
    """Parse the dbt project into `<home>/dbt/target/manifest.json` unless it is current.

    The manifest depends on the project's files and on the dbt target of the home's engine: the
    models' configurations are dispatched on the adapter (macros/engine/), so DuckDB's and Spark's
    manifests differ."""
    from orchestration import engine

    chosen = engine.home_engine(home)
    target = engine.DBT_TARGETS[chosen]
    tp = target_path(home)
    manifest = tp / "manifest.json"
    stamp = tp / ".fingerprint"
    fp = project_fingerprint()
    key = f"{target}:{fp}"
    if manifest.exists() and stamp.exists() and stamp.read_text() == key:
        return manifest
    tp.mkdir(parents=True, exist_ok=True)
    # The manifest depends only on the project's files and the target, not on the home: parse
    # once per project version and target and share it through the system temp dir (tests make
    # many homes).
    cached = Path(tempfile.gettempdir()) / f"numlake-dbt-manifest-{target}-{fp[:16]}.json"
    if cached.exists():
        shutil.copyfile(cached, manifest)
        stamp.write_text(key)
        return manifest
    env = dict(os.environ)
    env.update(engine.dbt_env(home, chosen))
    proc = subprocess.run(
        [
            dbt_executable(),
            "parse",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(tp),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise UsageError("dbt parse failed: " + " | ".join(tail))
    stamp.write_text(key)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    shutil.copyfile(manifest, tmp)
    os.replace(tmp, cached)
    return manifest


def build_args(full_refresh: bool) -> list[str]:
    """`dbt build` of a pipeline run: data tests as asset checks, unit tests left to the test suite."""
    return ["build", "--exclude-resource-type", "unit_test"] + (["--full-refresh"] if full_refresh else [])


def docs_args(engine: str = "duckdb") -> list[str]:
    """`dbt docs generate --static`: one self-contained HTML file (manifest and catalog inlined),
    so the docs open offline from the file system and through `numlake serve` alike. On Spark the
    catalog is left empty: reading it would start a Spark session for a page of column types."""
    return ["docs", "generate", "--static"] + (["--empty-catalog"] if engine == "spark" else [])


def docs_current(home: Home, fingerprint: str) -> bool:
    """Whether `<home>/dbt/docs` was generated from this version of the dbt project: the docs show
    models, columns and lineage, which change with the project, not with a day's rows."""
    stamp = home.dbt_docs / ".built_with"
    return (home.dbt_docs / "index.html").exists() and stamp.exists() and stamp.read_text() == fingerprint


def publish_docs(generated: Path, home: Home, fingerprint: str) -> Path:
    """Put the generated docs site at `<home>/dbt/docs/index.html` (written to a temp name, then
    renamed, so a reader never sees half a file), stamped with the project's fingerprint.

    The site is `static_index.html` made again as dbt makes it (its page with the manifest and
    catalog inlined) from JSON whose every string is masked (RULES 7): the unit tests' rows,
    shown in the docs, hold numbers of the valid shape."""
    home.dbt_docs.mkdir(parents=True, exist_ok=True)
    out = home.dbt_docs / "index.html"
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(masked_docs_page(Path(generated)), encoding="utf-8")
    os.replace(tmp, out)
    (home.dbt_docs / ".built_with").write_text(fingerprint)
    return out


def masked_docs_page(generated: Path) -> str:
    """dbt's static docs page (see publish_docs) from the masked manifest and catalog; when dbt
    left no page template beside them, its own static page with every bare number masked."""
    from numlake.msisdn import BARE_NUMBER_RE, mask, mask_text

    def masked(value):
        if isinstance(value, str):
            return mask_text(value)
        if isinstance(value, int) and not isinstance(value, bool) and BARE_NUMBER_RE.fullmatch(str(value)):
            return mask(str(value))  # a number kept as an integer key (msisdn_key)
        if isinstance(value, list):
            return [masked(v) for v in value]
        if isinstance(value, dict):
            return {k: masked(v) for k, v in value.items()}
        return value

    parts = {name: generated / f"{name}.json" for name in ("manifest", "catalog")}
    page = generated / "index.html"
    if not page.is_file() or not all(p.is_file() for p in parts.values()):
        text = (generated / "static_index.html").read_text(encoding="utf-8")
        return BARE_NUMBER_RE.sub(lambda m: mask(m.group(0)), text)
    text = page.read_text(encoding="utf-8")
    for name, path in parts.items():
        data = json.dumps(masked(json.loads(path.read_text(encoding="utf-8"))))
        text = text.replace(f'"{name.upper()}.JSON INLINE DATA"', data)
    return text
