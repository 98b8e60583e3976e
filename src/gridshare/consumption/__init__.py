"""Consumption: standard load profiles, categories, peaks, anomalies."""
