"""Tests of the "shapes" corpus (scalinglab.corpora.shapes): noisy rectangles drawn from
templates that are equally likely, an exact ln P(x) for any image, and the entropy rate
estimated from it."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.corpora import CorpusConfig, make_corpus
from scalinglab.corpora.base import DOCUMENT_START
from scalinglab.corpora.images import images_of
from scalinglab.corpora.shapes import (
    draw_images,
    image_entropy_nats,
    log_probability,
    rectangles,
    templates,
)


def test_the_templates_are_every_rectangle_with_two_distinct_levels():
    masks = rectangles()
    assert masks.shape == (1296, 8, 8) and len({m.tobytes() for m in masks}) == 1296
    for mask in masks[::97]:  # each mask is one filled rectangle
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].all() and mask.sum() == len(rows) * len(cols)
    assert templates(4).shape == (1296 * 12, 64) and set(np.unique(templates(4))) == {0, 1, 2, 3}


def test_log_probability_is_the_sum_over_templates_written_out():
    rng = np.random.default_rng(0)
    images = draw_images(3, 2, 0.1, rng)
    every = templates(2).astype(int)
    for image, found in zip(images, log_probability(images, 2, 0.1)):
        per_pixel = np.where(every == image.ravel(), 1 - 0.1 + 0.1 / 2, 0.1 / 2)
        assert found == pytest.approx(np.log(np.mean(np.prod(per_pixel, axis=1))), rel=1e-9)


def test_the_entropy_lies_between_the_templates_and_independent_pixels():
    entropy, stderr = image_entropy_nats(2, 0.05)
    assert 0 < stderr < 0.3
    # at least the choice among the (nearly all distinct) templates, at most 64 independent pixels
    assert np.log(len(templates(2))) - 0.1 < entropy < 64 * np.log(2)
    low_noise, _ = image_entropy_nats(2, 1e-4)
    distinct = len({t.tobytes() for t in templates(2)})
    assert low_noise == pytest.approx(np.log(distinct), abs=0.05)


def test_the_corpus_is_fresh_images_one_per_document_with_its_entropy_floor():
    config = CorpusConfig(kind="shapes", n_tokens=65 * 400, pixel_levels=2, seed=1)
    corpus = make_corpus(config)
    tokens = np.concatenate([corpus.train_tokens, corpus.val_tokens])
    assert len(tokens) == 65 * 400 and np.all(tokens[::65] == DOCUMENT_START)
    images = images_of(tokens)
    assert images.shape == (400, 8, 8) and images.max() <= 1
    assert len({image.tobytes() for image in images}) > 390  # noise makes repeats rare
    assert corpus.entropy_rate_nats == pytest.approx(image_entropy_nats(2, 0.05)[0] / 65)
    assert np.array_equal(make_corpus(config).train_tokens, corpus.train_tokens)
    assert not np.array_equal(make_corpus(config.replace(seed=2)).train_tokens, corpus.train_tokens)


@pytest.mark.parametrize(("changes", "message"), [
    ({"noise": 0.0}, "^noise must be a number in \\(0, 1\\)"),
    ({"noise": 1.5}, "^noise must be a number in \\(0, 1\\)"),
    ({"pixel_levels": 3}, "^pixel_levels must be one of"),
])
def test_bad_shapes_parameters_are_refused_by_name(changes, message):
    with pytest.raises(ValueError, match=message):
        CorpusConfig(kind="shapes", n_tokens=10_000, **changes)


def test_templates_are_equally_likely_in_what_the_source_draws():
    rng = np.random.default_rng(3)
    drawn = draw_images(20_000, 2, 1e-9, rng).reshape(20_000, -1)
    full_grid = np.all(drawn == drawn[:, :1], axis=1)  # the whole-grid rectangle: 2 of the 2,592 templates
    assert full_grid.mean() == pytest.approx(2 / len(templates(2)), abs=0.001)
