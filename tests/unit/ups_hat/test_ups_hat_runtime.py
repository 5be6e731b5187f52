# SPDX-License-Identifier: GPL-3.0-or-later
"""Estimated runtime: from the current draw, or from the charge's slope."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

import ups_hat


def test_runtime_from_current_draw():
    # 50 % of 3000 mAh at 0.5 A: 1.5 Ah / 0.5 A = 3 h.
    assert ups_hat.runtime_from_current(50, -0.5, 3000) == pytest.approx(3 * 3600)


@pytest.mark.parametrize("current, capacity", [(0.3, 3000), (0.0, 3000), (None, 3000), (-0.5, 0)])
def test_no_current_runtime_when_charging_or_unknown(current, capacity):
    assert ups_hat.runtime_from_current(50, current, capacity) is None


def test_runtime_from_a_steady_drop():
    # 1 % per 10 s, now at 50 %: 500 s left.
    samples = [(t, 60 - t / 10.0) for t in range(0, 101, 5)]
    assert ups_hat.runtime_from_samples(samples, 300) == pytest.approx(500)


def test_runtime_fits_noisy_gauge_readings():
    samples = [(0, 80.0), (10, 80.5), (20, 78.0), (30, 77.5), (40, 76.0), (50, 75.5)]
    assert ups_hat.runtime_from_samples(samples, 120) == pytest.approx(75.5 * 1750 / 182.5)


def test_no_runtime_until_a_third_of_the_window_is_covered():
    samples = [(0, 80.0), (10, 70.0), (19, 60.0)]
    assert ups_hat.runtime_from_samples(samples, 60) is None
    assert ups_hat.runtime_from_samples(samples + [(20, 59.0)], 60) is not None


@pytest.mark.parametrize("samples", [[(0, 50.0), (100, 50.0)], [(0, 50.0), (100, 55.0)], [(0, 50.0)], []])
def test_no_runtime_when_not_falling(samples):
    assert ups_hat.runtime_from_samples(samples, 120) is None


def test_estimator_forgets_old_samples_and_resets_on_mains():
    est = ups_hat.RuntimeEstimator(window=100)
    for t in range(0, 201, 10):
        est.update(t, ups_hat.Reading(100 - t / 10.0, 3.8, True))
    assert est.samples[0][0] == 100
    # On the last 100 s the charge fell 1 %/10 s; now at 80 %.
    assert est.update(210, ups_hat.Reading(79, 3.8, True)) == pytest.approx(790)
    assert est.update(220, ups_hat.Reading(79, 3.9, False)) is None
    assert est.samples == []


def test_estimator_prefers_the_current_draw():
    est = ups_hat.RuntimeEstimator(window=100, capacity_mah=2000)
    assert est.update(0, ups_hat.Reading(50, 7.4, True, -1.0)) == pytest.approx(3600)
