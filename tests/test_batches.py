"""Work handed off the request path is done, a batch at a time, and never lost."""

from __future__ import annotations

import threading

from feedsvc.batches import Batched


def test_a_seconds_worth_is_one_batch_and_flush_waits_for_it() -> None:
    batches: list[list[int]] = []
    work = Batched(batches.append, "test-batches", seconds=0.2)
    work.start()
    try:
        for n in range(1000):
            work.put(n)
        work.flush()
        assert [n for batch in batches for n in batch] == list(range(1000))
        assert len(batches) <= 2  # not one wake-up per item
    finally:
        work.stop()


def test_what_is_put_before_stop_is_done() -> None:
    done: list[int] = []
    work = Batched(done.extend, "test-batches", seconds=30)
    work.start()
    work.put(1)
    work.put(2)
    stopped = threading.Thread(target=work.stop)
    stopped.start()
    stopped.join(timeout=5)
    assert not stopped.is_alive() and done == [1, 2]


def test_without_its_thread_flush_does_the_work_here() -> None:
    done: list[str] = []
    work = Batched(done.extend, "test-batches")
    work.put("a")
    work.flush()
    assert done == ["a"]


def test_failing_work_is_logged_and_the_thread_goes_on(caplog) -> None:
    seen: list[list[int]] = []

    def work(items: list[int]) -> None:
        seen.append(items)
        if items == [1]:
            raise RuntimeError("disk full")

    batched = Batched(work, "test-batches", seconds=0.05)
    batched.start()
    try:
        batched.put(1)
        batched.flush()
        batched.put(2)
        batched.flush()
        assert seen == [[1], [2]] and "disk full" in caplog.text
    finally:
        batched.stop()
