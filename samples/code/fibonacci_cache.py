"""Fibonacci numbers three ways: naive recursion, memoised recursion, and fast doubling."""

from functools import lru_cache


def fib_naive(n: int) -> int:
    """Exponential time; only for checking the others on small n."""
    return n if n < 2 else fib_naive(n - 1) + fib_naive(n - 2)


@lru_cache(maxsize=None)
def fib_memo(n: int) -> int:
    return n if n < 2 else fib_memo(n - 1) + fib_memo(n - 2)


def fib_doubling(n: int) -> int:
    """O(log n) using F(2k) = F(k) * (2F(k+1) - F(k)) and F(2k+1) = F(k)^2 + F(k+1)^2."""

    def pair(k: int) -> tuple[int, int]:
        if k == 0:
            return 0, 1
        a, b = pair(k // 2)
        c = a * (2 * b - a)
        d = a * a + b * b
        return (d, c + d) if k % 2 else (c, d)

    return pair(n)[0]


if __name__ == "__main__":
    for n in range(20):
        assert fib_naive(n) == fib_memo(n) == fib_doubling(n)
    print("F(1000) has", len(str(fib_doubling(1000))), "digits")
