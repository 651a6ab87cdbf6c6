"""Property tests (hypothesis) for the sampling rules, over random classes of candidates."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from heldout.sampling import (
    EXCLUSION_REASONS,
    exclusion_codes,
    round_histogram,
    select_matched_frequency,
    select_threshold,
    select_top_images,
)

PROFILE = settings(max_examples=80, deadline=None)

histograms = st.lists(st.integers(0, 40), min_size=2, max_size=8).filter(lambda h: sum(h) > 0)
five_bins = st.lists(st.integers(0, 40), min_size=5, max_size=5).filter(lambda h: sum(h) > 0)


@st.composite
def pools(draw, max_size=30):
    """One class: sorted unique ids with a bin, eligibility, membership of the previous revision,
    frequency and annotations each."""
    n = draw(st.integers(0, max_size))
    ids = np.array([f"{i:04x}" for i in range(n)])
    column = lambda elements: np.array(draw(st.lists(elements, min_size=n, max_size=n)))  # noqa: E731
    return {
        "ids": ids.astype(str),
        "bins": column(st.integers(0, 4)).astype(np.int64),
        "eligible": column(st.booleans()).astype(bool),
        "previous": column(st.booleans()).astype(bool),
        "frequency": column(st.sampled_from([0.0, 0.3, 0.5, 0.7, 0.9, 1.0])).astype(np.float64),
        "annotations": column(st.integers(0, 20)).astype(np.int64),
    }


@PROFILE
@given(histograms, st.integers(1, 30))
def test_largest_remainder_rounding_sums_to_the_total_and_stays_within_one(counts, total):
    rounded = round_histogram(np.array(counts), total)
    exact = [Fraction(c * total, sum(counts)) for c in counts]
    assert rounded.sum() == total
    assert all(int(e) <= r <= int(e) + 1 for e, r in zip(exact, rounded.tolist(), strict=True))


@PROFILE
@given(histograms, st.integers(1, 30))
def test_largest_remainder_ties_go_to_the_higher_bin(counts, total):
    rounded = round_histogram(np.array(counts), total).tolist()
    exact = [Fraction(c * total, sum(counts)) for c in counts]
    rounded_up = [r > int(e) for e, r in zip(exact, rounded, strict=True)]
    for low in range(len(counts)):
        for high in range(low + 1, len(counts)):
            if exact[low] - int(exact[low]) == exact[high] - int(exact[high]) and rounded_up[low]:
                assert rounded_up[high], (counts, total, rounded)


@st.composite
def matched_cases(draw):
    pool = draw(pools())
    target = round_histogram(np.array(draw(five_bins)), draw(st.integers(1, 12)))
    return pool, target


@PROFILE
@given(matched_cases(), st.integers(0, 2**32), st.booleans())
def test_upward_borrowing_only_ever_takes_from_higher_bins(case, seed, upward):
    pool, target = case
    selected, _ = select_matched_frequency(
        pool["ids"], pool["bins"], pool["eligible"], pool["previous"], target, random.Random(seed),
        allow_upward_sampling=upward,
    )  # fmt: skip
    bins = pool["bins"][np.searchsorted(pool["ids"], selected)]
    below = np.array([(bins < k).sum() for k in range(6)])
    assert (below <= np.r_[0, np.cumsum(target)]).all()  # low-frequency images never fill higher slots
    assert len(set(selected)) == len(selected) <= target.sum()
    assert pool["eligible"][np.searchsorted(pool["ids"], selected)].all()
    if not upward:
        assert (np.bincount(bins, minlength=5) <= target).all()


@PROFILE
@given(matched_cases(), st.integers(0, 2**32))
def test_matched_frequency_fills_a_bin_from_its_own_candidates_when_it_can(case, seed):
    pool, target = case
    selected, _ = select_matched_frequency(
        pool["ids"], pool["bins"], pool["eligible"], pool["previous"], target, random.Random(seed)
    )
    own = np.bincount(pool["bins"][pool["eligible"]], minlength=5)
    got = np.bincount(pool["bins"][np.searchsorted(pool["ids"], selected)], minlength=5)
    assert (got >= np.minimum(own, target)).all()


@PROFILE
@given(matched_cases(), st.integers(0, 2**32))
def test_matched_frequency_keeps_previous_images_that_fit_their_bin(case, seed):
    pool, target = case
    carried = pool["eligible"] & pool["previous"]
    fits = np.bincount(pool["bins"][carried], minlength=5) <= target
    selected, _ = select_matched_frequency(
        pool["ids"], pool["bins"], pool["eligible"], pool["previous"], target, random.Random(seed)
    )
    kept = carried & fits[pool["bins"]]
    assert set(pool["ids"][kept].tolist()) <= set(selected)


@PROFILE
@given(pools(), st.integers(1, 12), st.integers(0, 2**32))
def test_threshold_keeps_every_still_eligible_previous_image(pool, n, seed):
    carried = pool["eligible"] & pool["previous"]
    if carried.sum() > n:
        return  # a revision never holds more per class than asked (sample() refuses)
    selected = select_threshold(pool["ids"], pool["eligible"], pool["previous"], n, random.Random(seed))
    assert set(pool["ids"][carried].tolist()) <= set(selected)
    assert len(selected) == min(n, int(pool["eligible"].sum()))
    assert pool["eligible"][np.searchsorted(pool["ids"], selected)].all()


@PROFILE
@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 0.5, 0.6, 0.7, 0.71, 1.0]), st.sampled_from([0.5, 0.6, 0.7])),
        min_size=1,
    ),
)
def test_threshold_eligibility_respects_each_candidates_class_threshold(pairs):
    frequency, threshold = (np.array(column) for column in zip(*pairs, strict=True))
    n = len(pairs)
    codes = exclusion_codes(
        blacklisted=np.zeros(n, bool),
        flagged=np.zeros(n, bool),
        annotations=np.full(n, 10),
        min_annotations=10,
        near_duplicate=np.zeros(n, bool),
        reviewed=np.ones(n, bool),
        frequency=frequency,
        threshold=threshold,
    )
    below = 1 + EXCLUSION_REASONS.index("below_threshold")
    assert ((codes == 0) == (frequency >= threshold)).all() and set(codes[codes != 0]) <= {below}


@PROFILE
@given(pools(), st.integers(1, 12))
def test_top_images_are_the_first_eligible_in_descending_key_order(pool, n):
    selected = select_top_images(
        pool["ids"], pool["frequency"], pool["annotations"], pool["eligible"], pool["previous"], n
    )
    keys = {
        i: (f, a, p, i)
        for i, f, a, p in zip(
            pool["ids"].tolist(),
            pool["frequency"].tolist(),
            pool["annotations"].tolist(),
            pool["previous"].tolist(),
            strict=True,
        )
    }
    eligible = sorted((keys[i] for i in pool["ids"][pool["eligible"]].tolist()), reverse=True)
    assert [keys[i] for i in selected] == eligible[:n]


@PROFILE
@given(matched_cases(), st.integers(0, 2**32))
def test_same_inputs_and_seed_select_the_same_images(case, seed):
    pool, target = case
    args = (pool["ids"], pool["bins"], pool["eligible"], pool["previous"], target)
    assert select_matched_frequency(*args, random.Random(seed)) == select_matched_frequency(
        *args, random.Random(seed)
    )
    threshold_args = (pool["ids"], pool["eligible"], pool["previous"], int(target.sum()))
    if (pool["eligible"] & pool["previous"]).sum() <= target.sum():
        assert select_threshold(*threshold_args, random.Random(seed)) == select_threshold(
            *threshold_args, random.Random(seed)
        )
