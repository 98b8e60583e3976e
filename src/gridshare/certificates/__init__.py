"""Granular renewable-energy certificates: issue, transfer, retire and claim rules (int Wh)."""
