"""Raw RS256 signing rate of the 8x8 webhook headers, one thread: the ceiling for signed deliveries.

    python bench/signing_rate.py [SECONDS]

Calls ``emulator.vendors.eightbyeight.signing.webhook_headers`` (CRC-32 of the body, compact JSON payload,
one RSA-2048 PKCS#1 v1.5 signature, base64url) in a loop and prints ``BENCHJSON {...}``. The key is derived
once before timing starts. Run it pinned to the server core, so it has the same one-core budget.
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> int:
    seconds = float(argv[1]) if len(argv) > 1 else 3.0
    try:
        from emulator.core.keys import derive_rsa_key
        from emulator.vendors.eightbyeight import signing
        from emulator.vendors.eightbyeight.constants import WEBHOOK_SIGNATURE_HEADER
    except ImportError as exc:
        print("BENCHJSON " + json.dumps({"available": False, "error": str(exc)}), flush=True)
        return 0
    t0 = time.perf_counter()
    key = derive_rsa_key(b"cxemu-bench", 2048)
    kid = signing.kid_for(key)
    key_s = time.perf_counter() - t0
    body = json.dumps({"event": "created", "id": "it-1", "text": "hello bench", "pings": 0, "at": 1.7e9}).encode()

    def one(n: int) -> dict[str, str]:
        return signing.webhook_headers(
            key,
            kid,
            body,
            tenant_id="bench",
            customer_id="bench-customer",
            event_id=f"evt-{n}",
            retry=0,
            transmission_time_ms=1_700_000_000_000 + n,
        )

    headers = one(0)
    ok = signing.verify_detached(
        key,
        headers[WEBHOOK_SIGNATURE_HEADER],
        signing.signature_payload(body, "bench-customer", "evt-0", 0, "bench", 1_700_000_000_000),
    )
    for n in range(50):  # warm-up
        one(n)
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    cpu0 = time.process_time()
    while True:
        for _ in range(50):
            one(count)
            count += 1
        now = time.perf_counter()
        if now >= deadline:
            break
    elapsed = now - started
    cpu = time.process_time() - cpu0
    result = {
        "available": True,
        "signatures": count,
        "seconds": round(elapsed, 3),
        "per_s": round(count / elapsed, 1),
        "cpu_per_signature_us": round(cpu / count * 1e6, 1),
        "key_derivation_s": round(key_s, 3),
        "self_verify_ok": ok,
    }
    print("BENCHJSON " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
