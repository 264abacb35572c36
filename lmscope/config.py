"""The config as a user sees it fail: one paragraph naming the key, for the schema's failures and for the checks
a JSON schema cannot express (split fractions that sum to 1, files that exist, names that refer to each other),
which each study keeps beside its code (lmscope.sae_checkpoints.config_checks, lmscope.mmneuron.config_checks)
and which run after the schema has filled in defaults.

Each failure is a `ConfigError` whose message starts with the config key, e.g.
`config key corpora[0].split: fractions sum to 1.1, not 1`.
"""

from __future__ import annotations

from lmscope.errors import InputError


class ConfigError(InputError):
    def __init__(self, key: str, message: str):
        super().__init__(f"config key {key}: {message}")
        self.key = key


def key_name(path) -> str:
    """`corpora[0].split.train` for the JSON path ('corpora', 0, 'split', 'train')."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def config_message(error: Exception) -> str:
    """The paragraph for a config that fails: a ConfigError's own message, or for the schema's failure (a
    WorkflowError raised while handling jsonschema's ValidationError) the key and what is wrong with it."""
    cause = error.__context__
    if not isinstance(error, ConfigError) and hasattr(cause, "absolute_path"):
        return schema_message(cause)
    return str(error)


def schema_message(error) -> str:
    """One paragraph for a JSON-schema ValidationError (what snakemake's validate raises): the key, what is wrong
    with it, what the key is for, and for an unknown key the keys that are allowed there."""
    key = key_name(error.absolute_path)
    where = f"config key {key}" if key else "config"
    message = f"{where}: {error.message}"
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and "properties" in schema:
        message += f"; allowed here: {', '.join(sorted(schema['properties']))}"
    elif schema.get("description"):
        message += f" ({key.rsplit('.', 1)[-1] or 'it'}: {schema['description']})"
    return message


def unique(items: list, what: str, key: str) -> None:
    seen = set()
    for i, name in enumerate(items):
        if name in seen:
            raise ConfigError(f"{key}[{i}].name", f"{what} name {name!r} is used twice")
        seen.add(name)


def sort_keys(value) -> None:
    """Sort the keys of every mapping in `value`, in place. Snakemake compares a rule's params with the last
    run's by their text, so the same config written with its keys in another order (a YAML dump sorts them;
    people do not) would rerun everything. Lists keep their order: theirs is meaningful."""
    if isinstance(value, dict):
        items = sorted(value.items())
        value.clear()
        value.update(items)
        for v in value.values():
            sort_keys(v)
    elif isinstance(value, list):
        for v in value:
            sort_keys(v)
