"""Scenario files: scripted vendor-side behaviour and timelines (see `scenarios/README.md`).

- `schema`: the file format as pydantic models (kernel steps; each vendor plugs in its setup, actions, steps)
- `loader`: YAML with line numbers -> a validated `LoadedScenario`, or a `LoadError` naming file:line: step
- `runner`: `ScenarioRun` (one scenario on one emulator); `standalone`: self-contained `run_path` / `run_loaded`
- `service`: scenarios loaded into a running server (`POST /_emulator/scenarios`, `serve --scenario`)
- `report`: the step-by-step text report and JUnit XML; `docs`: the generated reference
- `hooks`: what a vendor contributes (`VendorPlugin.scenario`); `match`: subset matching and templates
"""
