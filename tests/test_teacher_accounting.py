import pytest

from generators.teacher import GenerationFailedError, GenerationResult, GenerationStats, check_failures


def stats_with(failures: int, total: int) -> GenerationStats:
    stats = GenerationStats()
    for i in range(total):
        error = "APIConnectionError: refused" if i < failures else None
        stats.add(
            GenerationResult(None if error else "ok", None if error else "stop", 10, 5, cached=False, error=error)
        )
    return stats


@pytest.mark.parametrize(
    ("failures", "total", "allowed", "raises"),
    [(0, 10, 0.0, False), (1, 10, 0.1, False), (2, 10, 0.1, True), (10, 10, 0.5, True)],
)
def test_the_asset_fails_only_past_the_allowed_failure_fraction(
    failures: int, total: int, allowed: float, raises: bool
) -> None:
    stats = stats_with(failures, total)
    assert stats.failures == failures and stats.completion_tokens == 5 * (total - failures)
    if raises:
        with pytest.raises(GenerationFailedError, match=f"{failures} of {total} requests failed"):
            check_failures(stats, allowed)
    else:
        check_failures(stats, allowed)
