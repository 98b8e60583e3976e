"""Peer-to-peer market: orders, mechanisms, clearing and settlement rules (integers only)."""
