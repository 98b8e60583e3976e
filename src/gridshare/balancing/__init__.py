"""Balancing: community energy accounting, storage rules, and (issue 6) dispatch optimisation."""
