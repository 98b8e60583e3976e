"""Chain adapters: compiled contract artifacts now; the embedded persistent EVM and
JSON-RPC nodes with the transaction manager, keystore and event indexer next (issue 3)."""
