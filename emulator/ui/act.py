"""The act-as consoles under `/_emulator/ui/act/...` (each calls the control-plane endpoints tests use).

`routes` gives routes whose paths start with `/act` (the dashboard appends them to its own, relative to
`/_emulator/ui`); when it gives any, the nav links `/act`. Pages render with the dashboard's `templates`
(`base.html` and its context come with them), scripts use `live.js`'s `cxemu.api` and `cxemu.live`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute
from starlette.templating import Jinja2Templates

if TYPE_CHECKING:
    from emulator.core.runtime import Emulator


def routes(emu: Emulator, templates: Jinja2Templates) -> list[BaseRoute]:
    """The consoles' pages (none yet)."""
    return []
