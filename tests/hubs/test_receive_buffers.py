"""A rank wire's receive buffers come back only once nothing else holds them."""

from app.backends.ranks.buffers import ReceiveBuffers

MB = 1 << 20


def test_a_released_buffer_of_the_same_size_is_handed_out_again():
    pool = ReceiveBuffers(keep_bytes=8 * MB)
    first = pool.take(2 * MB)
    address = id(first)
    del first
    assert id(pool.take(2 * MB)) == address


def test_a_buffer_someone_holds_is_never_handed_out_twice():
    pool = ReceiveBuffers(keep_bytes=8 * MB)
    held = pool.take(2 * MB)
    view = memoryview(held)[:10]  # a message or a tensor over its memory
    del held
    again = pool.take(2 * MB)
    again[:10] = b"x" * 10
    assert bytes(view) == bytes(10)  # the holder's bytes were not overwritten


def test_small_buffers_are_not_kept_and_the_pool_stays_within_its_bytes():
    pool = ReceiveBuffers(keep_bytes=5 * MB)
    small = pool.take(1000)
    assert pool.take(1000) is not small
    held = [pool.take(2 * MB) for _ in range(4)]  # all held: two kept, two not
    assert sum(map(len, pool._kept)) <= 5 * MB
    del held
    pool.take(3 * MB)  # room made by dropping free ones
    assert sum(map(len, pool._kept)) <= 5 * MB and any(len(b) == 3 * MB for b in pool._kept)
