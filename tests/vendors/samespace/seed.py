"""The seed's sample POST payload (samespace.md §4.2; seeds/003), restated verbatim: ids mixing "0" and 1,
a dangling `next_step` (10), an unreachable object (3), an http object without a method. Its tabs, odd
indentation and trailing whitespace are kept (written as escapes, so the file itself stays lint-clean)."""

from __future__ import annotations

SEED_SAMPLE = "\n".join(
    (
        "{",
        '\t"cloud_id":"CLOUD_ID",',
        '\t"auth_token":"your_auth_token",',
        '\t"record":false,',
        '\t"flow":[',
        "\t\t{",
        '\t\t\t"id":"0",',
        '\t\t\t"type":"call",',
        '\t\t\t"number":"917507161643",',
        '\t\t\t"caller_id":"917507161643",',
        '\t\t\t"next_step":1',
        "\t\t},",
        "\t\t{",
        '\t\t\t"id":1,',
        '\t\t\t"type":"play",',
        '\t\t\t"text":"Hi, Welcome to Samespace. Press 1 for apples or press 2 for oranges.",',
        '\t\t\t"next_step":2',
        "\t\t},",
        "\t\t{",
        '\t\t\t"id":2,',
        '\t\t\t"type":"digits",',
        '\t\t\t"count":4,',
        '\t\t\t"next_step":{',
        '\t\t\t\t"*":5',
        "\t\t\t },",
        '\t\t\t "variable":"account_id"',
        "\t\t},",
        "\t\t{",
        '\t\t\t"id":5,',
        '\t\t\t"type":"http",',
        '\t\t\t"url":"https://subdoomain.domain.com/api/test/{{account_id}}",',
        '\t\t\t"next_step":{',
        '\t\t\t\t"success":10,',
        '\t\t\t\t"fail":4',
        "\t\t\t }",
        "\t\t},",
        "\t\t{",
        '\t\t\t"id":3,',
        '\t\t\t"type":"connect",',
        '\t\t\t"number":"16468107XXX",',
        '\t\t\t"caller_id":"12345678"',
        "\t\t},\t",
        "\t\t{",
        '\t\t\t"id":4,',
        '\t\t\t"type":"connect",',
        '\t\t\t"number":"5263",',
        '\t\t\t"caller_id":"917507XXXXX"',
        "\t\t}",
        "\t]",
        "}",
    )
)

SEED_HTTP_HOST = "https://subdoomain.domain.com"
"""The sample's http step host; tests send it to a local server with the cloud's `http_overrides`."""


def sample_from(text: str) -> str:
    """The 'Sample POST payload' block of the seed document (from its first `{` to the end of the JSON)."""
    start = text.index("Sample POST payload")
    begin = text.index("{", start)
    depth = 0
    for i, ch in enumerate(text[begin:], begin):
        depth += ch == "{"
        depth -= ch == "}"
        if depth == 0:
            return text[begin : i + 1]
    raise ValueError("unterminated sample")
