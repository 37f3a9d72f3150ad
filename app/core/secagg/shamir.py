"""Shamir's secret sharing over the prime field of 2^521 - 1: any `threshold` of the shares
give the secret back, fewer give nothing about it."""

from __future__ import annotations

import secrets

PRIME = 2**521 - 1  # a Mersenne prime above any 256-bit secret
SHARE_BYTES = 66


def split(secret: int, xs: list[int], threshold: int) -> dict[int, int]:
    """One share per x (each nonzero, distinct) of a random polynomial of degree
    `threshold - 1` whose value at 0 is `secret`."""
    if not 0 <= secret < PRIME:
        raise ValueError("the secret is outside the field")
    if not 1 <= threshold <= len(xs) or len(set(xs)) != len(xs) or 0 in xs:
        raise ValueError(f"cannot split into {len(xs)} shares with threshold {threshold}")
    coefficients = [secret] + [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    return {x: _evaluate(coefficients, x) for x in xs}


def combine(points: dict[int, int]) -> int:
    """The secret from shares (x: y), by Lagrange interpolation at 0."""
    secret = 0
    for xi, yi in points.items():
        num, den = 1, 1
        for xj in points:
            if xj != xi:
                num = num * -xj % PRIME
                den = den * (xi - xj) % PRIME
        secret = (secret + yi * num * pow(den, -1, PRIME)) % PRIME
    return secret


def _evaluate(coefficients: list[int], x: int) -> int:
    y = 0
    for c in reversed(coefficients):
        y = (y * x + c) % PRIME
    return y
