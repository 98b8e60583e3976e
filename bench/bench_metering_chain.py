"""Cost per interval of commitment + certification on the embedded chain.

    .venv/bin/python bench/bench_metering_chain.py [--scenario scenarios/demo.toml --days 1]

Runs the scenario twice through the same pipeline, without and with the ledger (embedded
py-evm chain: onboarding, one commit_batch per day of intervals, mint_batch for every
production meter's interval), and reports the difference per interval, per meter and
per certificate, with the gas the chain used.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from gridshare.app.simulate import run_simulation
from gridshare.ledger.keys import LocalSigner
from gridshare.model.summary import AccountingSummary, CertificateSummary, CommitSummary
from gridshare.simulator.run import prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=Path("scenarios/demo.toml"))
    parser.add_argument("--days", type=int, default=1)
    args = parser.parse_args()
    spec = prepare(args.scenario, args.days)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        plain = run_simulation(spec, Path(tmp) / "plain", plots=False)
        t_plain = time.perf_counter() - started
        started = time.perf_counter()
        chained = run_simulation(
            spec, Path(tmp) / "chain", plots=False, operator=LocalSigner.generate()
        )
        t_chain = time.perf_counter() - started
    commits = chained.summary.section(CommitSummary)
    certificates = chained.summary.section(CertificateSummary)
    intervals = commits.commitments
    meters = commits.committed_readings // intervals
    tokens = certificates.certificate_tokens
    extra = t_chain - t_plain
    print(f"{meters} meters, {intervals} intervals, {tokens:,} certificate tokens")
    print(f"without ledger {t_plain:.1f} s, with ledger {t_chain:.1f} s (incl. onboarding + audit)")
    print(
        f"ledger cost: {extra / intervals * 1000:.0f} ms per interval, "
        f"{extra / intervals / meters * 1e6:.0f} us per meter-interval, "
        f"{extra / max(tokens, 1) * 1e3:.2f} ms per certificate; "
        f"{extra / intervals / meters * 1000 * 1000:.0f} ms per interval scaled to 1,000 meters"
    )
    issued = certificates.certificates_issued_wh
    print(f"verified: {chained.summary.verified}, certificates {issued:,} Wh")
    production = [r.summary.section(AccountingSummary).production_kwh for r in (plain, chained)]
    assert production[0] == production[1]


if __name__ == "__main__":
    main()
