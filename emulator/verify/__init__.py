"""Score a webhook receiver the way each vendor treats it (issue 17).

- `battery`: the checks, run on the server against the receiver (`battery.run`), one implementation for the
  endpoint, the CLI, the pytest helper and the dashboard;
- `profiles`: each vendor's part (real subjects and bodies, headers, forgeries);
- `scorecard`: the result's models and its renderings (table, curl, JUnit XML);
- `control`: `POST /_emulator/verify-receiver`;
- `client`: `score(url, vendor, server=...)` and the `cxemu verify-receiver` command.
"""
