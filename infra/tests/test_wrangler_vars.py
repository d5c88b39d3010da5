"""Every setting the edge reads (apps/edge/src/config.ts, `env.NAME`) is declared in each environment's vars of the
root wrangler.toml, except the secrets, which must never be there: a deployment then shows its whole configuration in
one file, and a new setting cannot ship with only the code's default behind it."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG_TS = ROOT / "apps" / "edge" / "src" / "config.ts"
WRANGLER = ROOT / "wrangler.toml"
SECRETS = {"SIGNING_KEYS", "RUNNER_TOKEN", "PURGE_TOKEN"}


def settings_read() -> set[str]:
    return set(re.findall(r"\benv\.([A-Z][A-Z0-9_]+)", CONFIG_TS.read_text()))


def environments() -> dict[str, dict]:
    doc = tomllib.loads(WRANGLER.read_text())
    envs = {"top level": doc.get("vars", {})}
    for name, env in doc.get("env", {}).items():
        envs[name] = env.get("vars", {})
    return envs


def test_config_reads_settings():
    assert {"MODEL_VERSION", "EDGE_WAIT_MS", "SOURCE_TTL_S"} <= settings_read()


def test_every_setting_is_declared_in_every_environment():
    wanted = settings_read() - SECRETS
    for name, vars_ in environments().items():
        missing = sorted(wanted - set(vars_))
        assert not missing, f"wrangler.toml [{name}] vars lack {missing}"


def test_no_secret_in_vars():
    for name, vars_ in environments().items():
        assert not SECRETS & set(vars_), f"wrangler.toml [{name}] vars hold a secret"
