"""8x8 (Contact Center Chat Gateway) emulation."""
