"""The dashboard at `/_emulator/ui`: server-rendered pages over the same state and journal the control plane
serves, with live updates from `/_emulator/events`.

| module | what it holds |
|---|---|
| `app` | `routes(emu, scenarios)`: the pages, the static files and `act`'s consoles, mounted by `create_app` |
| `act` | the act-as consoles (helper `act`): `routes(emu, templates)` |
| `templates/` | Jinja2 (`base.html`: the nav, blocks `title`, `content`, `scripts`) |
| `static/` | `app.css`; `live.js`, the shared client (`cxemu.api`, `cxemu.live`) |

Layers: the dashboard imports core, scenarios and the vendors' public hooks (`VendorPlugin`); core imports
nothing from it. Every page is a GET that reads through `Store.view` and never changes state.
"""
