"""The emulator kernel: clock, ids, store, events, webhooks, journal, errors and the vendor plugin contract."""
