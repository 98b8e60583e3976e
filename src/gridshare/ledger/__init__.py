"""Chain adapters: the embedded persistent EVM and JSON-RPC nodes."""
