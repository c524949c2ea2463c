"""The user's keymap: a TOML file that rebinds the console's keys by binding id.

Every binding of the console has an id (see :mod:`console.tui.commands` and the
screens); a file maps ids to keys, for example::

    # ~/.config/cutover/keymap.toml
    refresh = "f5"
    run-step = ["g", "ctrl+r"]

The file is ``$CUTOVER_KEYMAP`` when set, else ``$XDG_CONFIG_HOME/cutover/keymap.toml``
(``~/.config/cutover/keymap.toml``). A missing file is no keymap; a broken one, or an id
that does not exist, is said in a notice and the default keys stay.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ENV = "CUTOVER_KEYMAP"


def keymap_path() -> Path:
    """Where the console looks for the user's keymap."""
    explicit = os.environ.get(ENV)
    if explicit:
        return Path(explicit).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config).expanduser() / "cutover" / "keymap.toml"


@dataclass(frozen=True)
class Keymap:
    """Binding id to keys (Textual key names, comma-separated), and what was wrong."""

    keys: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def load_keymap(path: Path, known: Iterable[str]) -> Keymap:
    """Read a keymap file; only ids in ``known`` are kept, the rest are problems."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Keymap()
    except (OSError, UnicodeDecodeError) as exc:
        return Keymap(problems=[f"keymap {path}: cannot read it ({exc}); default keys apply"])
    except tomllib.TOMLDecodeError as exc:
        return Keymap(
            problems=[f"keymap {path}: not valid TOML ({exc}); fix it, default keys apply"]
        )
    known = set(known)
    keys: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, value in data.items():
        if binding_id not in known:
            problems.append(
                f"keymap {path}: no binding '{binding_id}'; the ids are {', '.join(sorted(known))}"
            )
            continue
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(k, str) and k.strip() for k in value)
        ):
            problems.append(
                f"keymap {path}: '{binding_id}' must be a key or a list of keys, "
                f'e.g. {binding_id} = "f5"'
            )
            continue
        keys[binding_id] = ",".join(k.strip() for k in value)
    return Keymap(keys, problems)
