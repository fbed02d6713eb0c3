"""The per-user API limit counted in-process (no Redis): fixed windows with a clock."""

from __future__ import annotations

from gateway.limits import LocalWindows


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_window_allows_the_limit_then_says_how_long_to_wait() -> None:
    clock = Clock()
    windows = LocalWindows(clock)
    key = (1, "user-a")
    assert [windows.hit(key, 3, 60.0) for _ in range(3)] == [None, None, None]
    clock.now += 15
    assert windows.hit(key, 3, 60.0) == 45.0  # refused: 45 s until the window ends
    assert windows.hit((1, "user-b"), 3, 60.0) is None  # other users count apart


def test_the_window_resets_and_old_windows_are_swept() -> None:
    clock = Clock()
    windows = LocalWindows(clock)
    for _ in range(5):
        windows.hit((1, "a"), 3, 60.0)
    clock.now += 60
    assert windows.hit((1, "a"), 3, 60.0) is None  # a new window
    windows.hit((1, "b"), 3, 1.0)
    clock.now += LocalWindows.SWEEP_SECONDS + 1
    windows.hit((1, "c"), 3, 60.0)
    assert set(windows._windows) == {(1, "a"), (1, "c")}  # b's ended window is gone
