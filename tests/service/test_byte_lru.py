from recommendation_engine.service.byte_lru import ByteLRU


def sized(max_bytes: int) -> ByteLRU[str, bytes]:
    return ByteLRU(max_bytes, len)


def test_the_least_recently_read_values_leave_first_when_the_budget_is_full() -> None:
    cache = sized(10)
    cache["a"] = b"aaaa"
    cache["b"] = b"bbbb"
    assert cache.get("a") == b"aaaa"  # now b is the least recently read
    cache["c"] = b"cccc"
    assert "b" not in cache
    assert cache.get("a") == b"aaaa" and cache.get("c") == b"cccc"
    assert cache.bytes == 8 and len(cache) == 2
    assert list(cache) == ["a", "c"]


def test_one_new_value_can_push_out_several_old_ones() -> None:
    cache = sized(10)
    for key in "abcde":
        cache[key] = b"xx"
    cache["f"] = b"y" * 9
    assert list(cache) == ["f"] and cache.bytes == 9


def test_a_value_larger_than_the_budget_is_not_kept_and_evicts_nothing() -> None:
    cache = sized(4)
    cache["a"] = b"aa"
    cache["big"] = b"12345"
    assert "big" not in cache and cache.get("a") == b"aa" and cache.bytes == 2
    empty = sized(0)
    empty["a"] = b"a"
    assert len(empty) == 0 and empty.bytes == 0


def test_replacing_pop_and_drop_where_keep_the_byte_count() -> None:
    cache = sized(100)
    cache["a"] = b"aaaa"
    cache["a"] = b"aa"
    assert cache.bytes == 2 and len(cache) == 1
    assert cache.pop("a") == b"aa" and cache.pop("a") is None
    assert cache.bytes == 0 and cache.get("a") is None
    for key in ("t1-x", "t1-y", "t2-x"):
        cache[key] = b"123"
    cache.drop_where(lambda key: key.startswith("t1"))
    assert list(cache) == ["t2-x"] and cache.bytes == 3
