"""The budget toward CodeDeploy, one process's: a bucket per account region, callers first."""

from service.accounts import AccountRegion
from service.codedeploy.budget import LocalBudget
from tests.support import FakeClock

HERE = AccountRegion("prod", "us-east-1")
THERE = AccountRegion("prod", "eu-west-1")


def test_a_second_holds_the_rate_and_refills_at_it() -> None:
    clock = FakeClock()
    budget = LocalBudget(4, clock)
    assert [budget.take_now(HERE, background=False) for _ in range(4)] == [0, 0, 0, 0]
    assert budget.take_now(HERE, background=False) == 0.25  # the next token, in a quarter second
    assert budget.take_now(THERE, background=False) == 0  # each account region its own
    clock.advance(0.5)
    assert [budget.take_now(HERE, background=False) for _ in range(3)] == [0, 0, 0.25]


def test_background_reads_leave_half_the_bucket_to_callers() -> None:
    clock = FakeClock()
    budget = LocalBudget(10, clock)
    taken = 0
    while budget.take_now(HERE, background=True) == 0:
        taken += 1
    assert taken == 5  # 10 tokens down to 5: one is taken only while more than half are left
    assert budget.take_now(HERE, background=True) > 0
    assert [budget.take_now(HERE, background=False) for _ in range(5)] == [0, 0, 0, 0, 0]


def test_a_slow_rate_still_keeps_a_call_for_callers() -> None:
    budget = LocalBudget(0.5, FakeClock())  # a bucket of two, at least
    assert budget.take_now(HERE, background=True) == 0
    assert budget.take_now(HERE, background=True) == 2.0  # the last one is a caller's
    assert budget.take_now(HERE, background=False) == 0
