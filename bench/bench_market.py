"""Pay-as-clear speed against a plain NumPy sort-and-cross reference.

    .venv/bin/python bench/bench_market.py [--sizes 1000 10000 100000 1000000]

Half bids, half offers, random quantities (1-5,000 Wh) and limit prices around
0.20/kWh. The reference sorts both sides, accumulates volume and finds the crossing
volume and the marginal pair with ``searchsorted``; gridshare's ``PayAsClear`` also
returns every matched stretch (bid, offer, volume, price). Best of 5 runs each.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gridshare.market.clearing import ContinuousDoubleAuction, OrderColumns, PayAsClear


def reference(bq: np.ndarray, bp: np.ndarray, oq: np.ndarray, op: np.ndarray) -> tuple[int, int]:
    """Plain sort-and-cross: crossing volume and the uniform (midpoint) price.

    Sort both sides, accumulate volume, and at every bid step look up the offer price
    at that volume (``searchsorted``); the crossing is the last step where the bid is
    at or above the offer.
    """
    bi = np.argsort(-bp, kind="stable")
    oi = np.argsort(op, kind="stable")
    bps, ops = bp[bi], op[oi]
    bcum, ocum = np.cumsum(bq[bi]), np.cumsum(oq[oi])
    total = min(bcum[-1], ocum[-1])
    starts = np.concatenate(([0], bcum[:-1]))  # volume where each bid begins
    live = starts < total
    at = np.searchsorted(ocum, starts[live], side="right")  # offer serving that volume
    ok = bps[live] >= ops[np.minimum(at, ops.size - 1)]
    n = int(ok.size if ok.all() else np.argmin(ok))
    if n == 0:
        return 0, 0
    # the crossing volume: up to where offers get dearer than bid n-1, or demand ends
    o_stop = np.searchsorted(ops, bps[n - 1], side="right")  # offers at or below the bid
    volume = int(min(bcum[n - 1], ocum[o_stop - 1] if o_stop else 0, total))
    b = bps[np.searchsorted(bcum, volume)]
    o = ops[np.searchsorted(ocum, volume)]
    return volume, int((b + o) // 2)


def best(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'orders':>10} {'reference':>11} {'pay-as-clear':>13} {'ratio':>6}")
    for n in args.sizes:
        half = n // 2
        bq = rng.integers(1, 5_000, half, dtype=np.int64)
        oq = rng.integers(1, 5_000, half, dtype=np.int64)
        bp = rng.integers(100_000, 300_000, half, dtype=np.int64)
        op = rng.integers(100_000, 300_000, half, dtype=np.int64)
        bids = OrderColumns(bq, bp, np.arange(half, dtype=np.int64))
        offers = OrderColumns(oq, op, np.arange(half, 2 * half, dtype=np.int64))
        volume, _ = reference(bq, bp, oq, op)
        assert PayAsClear().clear(bids, offers).volume_wh == volume
        t_ref = best(lambda: reference(bq, bp, oq, op))  # noqa: B023 - used at once
        t_ours = best(lambda: PayAsClear().clear(bids, offers))  # noqa: B023
        print(f"{n:>10,} {t_ref * 1e3:>9.1f} ms {t_ours * 1e3:>10.1f} ms {t_ours / t_ref:>6.2f}")
    # the continuous double auction: orders of both sides interleaved in arrival order
    n = 200_000
    half = n // 2
    seq = rng.permutation(n).astype(np.int64)
    bids = OrderColumns(
        rng.integers(1, 5_000, half), rng.integers(100_000, 300_000, half), seq[:half]
    )
    offers = OrderColumns(
        rng.integers(1, 5_000, half), rng.integers(100_000, 300_000, half), seq[half:]
    )
    t_cda = best(lambda: ContinuousDoubleAuction().clear(bids, offers), repeat=3)
    trades = ContinuousDoubleAuction().clear(bids, offers)
    print(f"CDA: {n:,} orders, {len(trades):,} trades in {t_cda:.2f} s = {n / t_cda:,.0f} orders/s")


if __name__ == "__main__":
    main()
