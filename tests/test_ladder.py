"""The ladder behind the trigger index gives the same keys as a sorted list would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.ladder import Ladder

ops = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(-(1 << 70), 1 << 70)),
        st.tuples(st.just("take"), st.integers(-(1 << 70), 1 << 70)),
        st.tuples(st.just("drop_odd"), st.just(0)),
        st.tuples(st.just("keep_even"), st.just(0)),
        st.tuples(st.just("extend"), st.lists(st.integers(-1000, 1000), max_size=50)),
    ),
    max_size=400,
)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_a_ladder_holds_the_same_keys_as_a_sorted_list(script: list[tuple[str, object]]) -> None:
    ladder = Ladder()
    model: list[int] = []
    for op, arg in script:
        if op == "push":
            assert isinstance(arg, int)
            ladder.push(arg)
            model.append(arg)
        elif op == "take":
            assert isinstance(arg, int)
            got = sorted(ladder.take(arg))
            assert got == sorted(k for k in model if k <= arg)
            model = [k for k in model if k > arg]
        elif op == "drop_odd":  # drop from the bottom while the smallest key is odd
            ladder.drop_dead(lambda k: k % 2 == 0)  # the even keys are live
            model.sort()
            while model and model[0] % 2 == 1:
                model.pop(0)
        elif op == "keep_even":
            ladder.keep(lambda k: k % 2 == 0)
            model = [k for k in model if k % 2 == 0]
        else:
            assert isinstance(arg, list)
            ladder.extend(arg)
            model += arg
        assert len(ladder) == len(model) and bool(ladder) == bool(model)
        assert ladder.top(-1) == (min(model) if model else -1)


def test_taking_a_cascade_is_one_slice_and_merges_keep_order() -> None:
    ladder = Ladder()
    for k in range(10_000, 0, -1):  # pushed in falling order: many merges
        ladder.push(k)
    assert len(ladder.new) < len(ladder.run) // 4  # the heap stays small beside the run
    assert sorted(ladder.take(2_500)) == list(range(1, 2_501))
    assert ladder.top(0) == 2_501 and len(ladder) == 7_500


def test_drop_absent_removes_only_the_keys_of_absent_ids() -> None:
    mask = (1 << 8) - 1
    ladder = Ladder([p << 8 | i for i, p in enumerate([5, 6, 7, 8])])
    ladder.push(4 << 8 | 9)
    ladder.drop_absent({2: None, 3: None}, mask)  # ids 0, 1 (and 9) are gone
    assert ladder.top(0) == 7 << 8 | 2 and len(ladder) == 2
