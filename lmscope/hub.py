"""Loading from the Hugging Face hub, with a repo that cannot be had told as one paragraph naming it.

Offline (HF_HUB_OFFLINE, or no network) transformers raises an OSError several lines long about cached files; a
user needs to know which repo and revision, and what to do: download it first, or point the config at a copy.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import constants

from lmscope.errors import InputError


def from_pretrained(loader, source: str, revision: str | None, what: str, **kwargs):
    """`loader.from_pretrained(source, revision=revision, **kwargs)`; a hub repo it cannot load (offline and not
    cached, no such repo or revision) becomes an InputError naming `what`, the repo and the revision."""
    try:
        return loader.from_pretrained(source, revision=revision, **kwargs)
    except OSError as error:
        if Path(source).exists():
            raise
        raise unavailable(source, revision, what, error) from None


def snapshot(repo: str, revision: str | None, what: str, subfolder: str | None = None) -> Path:
    """The local folder of a hub repo's files (of `subfolder` only, when given), downloaded once into the Hugging
    Face cache; offline, the cached copy. A repo it cannot have becomes the InputError `from_pretrained` gives."""
    from huggingface_hub import snapshot_download  # the one function here that downloads a whole repo

    try:
        root = snapshot_download(repo, revision=revision, allow_patterns=f"{subfolder}/*" if subfolder else None)
    except OSError as error:  # offline and not cached, no such repo or revision, no network
        raise unavailable(repo, revision, what, error) from None
    return Path(root) / subfolder if subfolder else Path(root)


def unavailable(source: str, revision: str | None, what: str, error: OSError) -> InputError:
    """The paragraph for a hub repo that cannot be had: which repo and revision, and what to do."""
    at = f"{source!r}" + (f" at revision {revision!r}" if revision else "")
    if constants.HF_HUB_OFFLINE:
        reason = ("the hub is offline (HF_HUB_OFFLINE is set) and it is not in the local cache; download it "
                  f"first (hf download {source}" + (f" --revision {revision}" if revision else "") + ") or give "
                  "a local path instead of repo")
    else:
        reason = str(error).strip().splitlines()[0]
    return InputError(f"{what}: cannot load {at} from the Hugging Face hub: {reason}")
