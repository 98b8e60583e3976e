"""Metering rules: signed reading bundles, their validation and Merkle commitments (pure)."""
