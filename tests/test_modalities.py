"""Tests of the image, code and arithmetic corpora (scalinglab.corpora.images, .code,
.arithmetic) and of scalinglab.universality, the four modalities."""

from __future__ import annotations

import ast
import math

import numpy as np
import pytest

from scalinglab.corpora import CorpusConfig, clear_cache, decode, make_corpus
from scalinglab.corpora import arithmetic
from scalinglab.corpora.arithmetic import MAX_ARITHMETIC_DIGITS, arithmetic_entropy_rate_nats, arithmetic_line
from scalinglab.corpora.images import (
    IMAGE_SIDE,
    PIXEL_LEVELS,
    digit_images,
    image_tokens,
    images_of,
    pixel_entropy_map,
    pixel_loss_map,
    pixels_of,
    quantise_pixels,
    shifted,
)
from scalinglab.universality import MODALITIES, TOKEN_UNITS, modality_corpus, modality_of

IMAGE_DOCUMENT = IMAGE_SIDE * IMAGE_SIDE + 1


# Images


def test_digits_are_the_1797_images_with_17_grey_levels():
    images = digit_images()
    assert images.shape == (1797, 8, 8)
    assert images.min() == 0 and images.max() == 16


@pytest.mark.parametrize("levels", PIXEL_LEVELS)
def test_quantisation_uses_exactly_the_levels_asked_for(levels):
    quantised = quantise_pixels(np.arange(17), levels)
    assert quantised.min() == 0 and quantised.max() == levels - 1
    assert len(np.unique(quantised)) == levels
    assert np.all(np.diff(quantised.astype(int)) >= 0)  # order kept


def test_unsupported_quantisation_is_named_with_the_accepted_levels():
    with pytest.raises(ValueError, match=r"pixel_levels must be one of 2, 4, 8, 17, got 5"):
        CorpusConfig(kind="images", pixel_levels=5)


def test_image_document_is_newline_then_pixels_in_raster_order():
    image = np.arange(64, dtype=np.uint8).reshape(8, 8) % 17
    tokens = image_tokens(image)
    assert len(tokens) == IMAGE_DOCUMENT and tokens[0] == ord("\n")
    assert np.array_equal(pixels_of(tokens[1:]).reshape(8, 8), image)  # row by row


def test_shift_moves_pixels_and_blanks_the_edge():
    image = np.zeros((8, 8), dtype=np.uint8)
    image[2, 3] = 9
    moved = shifted(image, 1, -1)
    assert moved[3, 2] == 9 and moved.sum() == 9
    edge = np.ones((8, 8), dtype=np.uint8)
    assert shifted(edge, 0, 1)[:, 0].sum() == 0 and shifted(edge, -1, 0)[-1].sum() == 0


def test_image_corpus_sizes_token_range_and_split_by_source_image():
    corpus = make_corpus(CorpusConfig(kind="images", pixel_levels=4))
    n_val = round(0.1 * 1797)
    assert len(corpus.val_document_starts) == n_val
    assert len(corpus.train_document_starts) == (1797 - n_val) * 9  # 3 x 3 shifts each
    assert len(corpus.train_tokens) == len(corpus.train_document_starts) * IMAGE_DOCUMENT
    pixels = np.concatenate([corpus.train_tokens, corpus.val_tokens])
    pixels = pixels[pixels != ord("\n")]
    assert set(np.unique(pixels_of(pixels))) == {0, 1, 2, 3}
    # no validation image (nor any shift of it) is among the training images
    train_images = {corpus.train_tokens[s : s + IMAGE_DOCUMENT].tobytes() for s in corpus.train_document_starts}
    val_images = [corpus.val_tokens[s : s + IMAGE_DOCUMENT].tobytes() for s in corpus.val_document_starts]
    assert not train_images.intersection(val_images)


def test_image_corpus_is_deterministic_and_seeded():
    first = make_corpus(CorpusConfig(kind="images", image_shift=0))
    clear_cache()
    again = make_corpus(CorpusConfig(kind="images", image_shift=0, val_fraction=0.1))
    assert again is not first  # built again, not taken from the cache
    assert np.array_equal(first.val_tokens, again.val_tokens) and np.array_equal(first.train_tokens, again.train_tokens)
    other = make_corpus(CorpusConfig(kind="images", image_shift=0, seed=1))
    assert not np.array_equal(first.val_tokens, other.val_tokens)
    assert len(first.train_tokens) == (1797 - 180) * IMAGE_DOCUMENT


def test_image_corpus_too_small_is_named():
    with pytest.raises(ValueError, match="n_tokens must be at least"):
        make_corpus(CorpusConfig(kind="images", n_tokens=1000))


def test_image_shift_out_of_range_is_named():
    with pytest.raises(ValueError, match="image_shift must be an integer in 0..2"):
        CorpusConfig(kind="images", image_shift=3)


# Code


def test_code_corpus_is_python_without_docstrings():
    corpus = make_corpus(CorpusConfig(kind="code", n_tokens=300_000))
    assert len(corpus.train_tokens) + len(corpus.val_tokens) == 300_000
    text = decode(corpus.train_tokens)
    assert "def " in text and "import " in text
    first = decode(corpus.train_tokens[corpus.train_document_starts[0] : corpus.train_document_starts[1]])
    tree = ast.parse(first)  # a whole file, minus docstrings, still parses here
    assert ast.get_docstring(tree) is None


def test_code_corpus_split_is_deterministic_by_file():
    config = CorpusConfig(kind="code", n_tokens=200_000, seed=2)
    first = make_corpus(config)
    clear_cache()
    again = make_corpus(CorpusConfig.from_dict(config.to_dict()))
    assert again is not first  # built again, not taken from the cache
    assert np.array_equal(first.val_tokens, again.val_tokens) and np.array_equal(first.train_tokens, again.train_tokens)
    # Split by file: every validation document is a whole file (it parses) that is not in training.
    val_ends = [*first.val_document_starts[1:], len(first.val_tokens)]
    train_ends = [*first.train_document_starts[1:], len(first.train_tokens)]
    train_files = {first.train_tokens[a:b].tobytes() for a, b in zip(first.train_document_starts, train_ends)}
    for a, b in zip(first.val_document_starts, val_ends):
        assert first.val_tokens[a:b].tobytes() not in train_files
    ast.parse(decode(first.val_tokens[first.val_document_starts[0] : val_ends[0]]))
    other = make_corpus(config.replace(seed=3))
    assert not np.array_equal(first.val_tokens, other.val_tokens)


# Arithmetic


def test_arithmetic_lines_are_exact():
    assert arithmetic_line(12, "+", 7) == "12+7=19\n"
    assert arithmetic_line(3, "-", 40) == "3-40=-37\n"
    assert arithmetic_line(25, "*", 4) == "25*4=100\n"
    with pytest.raises(ValueError, match="operator must be one of"):
        arithmetic_line(1, "/", 2)


def test_arithmetic_corpus_lines_are_correct_and_sized():
    corpus = make_corpus(CorpusConfig(kind="arithmetic", n_digits=2, n_tokens=50_000))
    assert len(corpus.train_tokens) + len(corpus.val_tokens) >= 50_000
    lines = [line for line in decode(corpus.train_tokens).split("\n") if line]
    for line in lines[:500]:
        left, result = line.split("=")
        assert eval(left) == int(result)  # noqa: S307 - generated digits and operators only
    assert set(decode(corpus.train_tokens)) <= set("0123456789+-*=\n")


def _arithmetic_documents_line_by_line(config: CorpusConfig) -> list[str]:
    """The corpus's documents as a loop that draws one line at a time would make them."""
    rng = np.random.default_rng([config.seed, 7])
    documents, total = [], 0
    while total < config.n_tokens:
        document = "\n"
        while True:
            a, b = (int(v) for v in rng.integers(0, 10**config.n_digits, size=2))
            line = arithmetic_line(a, "+-*"[int(rng.integers(3))], b)
            if len(document) + len(line) > config.document_tokens and len(document) > 1:
                break
            document += line
        documents.append(document)
        total += len(document)
    return documents


@pytest.mark.parametrize("n_digits, document_tokens, n_tokens", [(2, 256, 1_000_000), (3, 12, 20_000), (1, 40, 5_000)])
def test_arithmetic_documents_are_those_of_a_line_at_a_time_loop(n_digits, document_tokens, n_tokens):
    # the block draws must spend the random stream exactly as one call per operand and
    # operator would, and drop the line that ends a document; 1M tokens cross a block
    config = CorpusConfig(kind="arithmetic", n_digits=n_digits, document_tokens=document_tokens, n_tokens=n_tokens)
    made = [decode(document) for document in arithmetic._documents(config)]
    assert made == _arithmetic_documents_line_by_line(config)


def test_arithmetic_entropy_matches_a_hand_count_for_one_digit():
    # one digit: 10 x 10 pairs; result lengths counted by hand below
    lengths = []
    for a in range(10):
        for b in range(10):
            lengths += [len(f"{a}+{b}={a + b}\n"), len(f"{a}-{b}={a - b}\n"), len(f"{a}*{b}={a * b}\n")]
    expected = (math.log(3) + 2 * math.log(10)) / np.mean(lengths)
    assert arithmetic_entropy_rate_nats(1) == pytest.approx(expected, rel=1e-12)


def test_arithmetic_digits_are_limited():
    with pytest.raises(ValueError, match=f"n_digits must be an integer in 1..{MAX_ARITHMETIC_DIGITS}"):
        CorpusConfig(kind="arithmetic", n_digits=4)


# Modalities


def test_every_modality_has_a_corpus_and_a_token_unit():
    assert set(TOKEN_UNITS) == set(MODALITIES)
    for name in MODALITIES:
        config = modality_corpus(name, n_tokens=60_000)
        assert modality_of(config) == name
        corpus = make_corpus(config)
        assert 0 < len(corpus.train_tokens) + len(corpus.val_tokens) <= 60_000 + 300  # arithmetic: whole documents


def test_unknown_modality_lists_the_accepted_names():
    with pytest.raises(ValueError, match=r"modality must be one of 'text', 'code', 'images', 'arithmetic', got 'audio'"):
        modality_corpus("audio")


def test_pixel_loss_map_is_the_first_64_positions_row_by_row():
    losses = np.arange(80, dtype=float)
    grid = pixel_loss_map(losses)
    assert grid.shape == (8, 8) and grid[1, 0] == 8 and grid[7, 7] == 63
    with pytest.raises(ValueError, match="loss_per_position_nats"):
        pixel_loss_map(np.ones(32))


def test_images_of_inverts_image_tokens():
    images = quantise_pixels(digit_images()[:5], 17)
    stream = np.concatenate([image_tokens(image) for image in images])
    assert np.array_equal(images_of(stream), images)
    with pytest.raises(ValueError, match="whole image documents"):
        images_of(stream[1:])


def test_pixel_entropy_map_is_each_pixels_entropy_in_nats():
    images = np.zeros((4, 8, 8), dtype=np.uint8)
    images[:2, 0, 0] = 1  # pixel (0, 0): half 0, half 1 -> ln 2
    images[:, 3, 3] = [0, 1, 2, 3]  # pixel (3, 3): uniform over 4 levels -> ln 4
    entropy = pixel_entropy_map(images, 4)
    assert entropy[0, 0] == pytest.approx(np.log(2))
    assert entropy[3, 3] == pytest.approx(np.log(4))
    assert entropy.sum() == pytest.approx(np.log(2) + np.log(4))
    with pytest.raises(ValueError, match="levels 0..1"):
        pixel_entropy_map(images, 2)
    with pytest.raises(ValueError, match="pixel_levels"):
        pixel_entropy_map(images, 5)


def test_allocation_by_modality_fits_each_modality_and_their_common_exponent(tmp_path, fake_result):
    from scalinglab.fit import common_exponent
    from scalinglab.results import load_table
    from scalinglab.runs import GPTConfig, TrainConfig, run_record
    from scalinglab.store import ResultsStore
    from scalinglab.universality import allocation_by_modality

    provenance = {"device": "cpu", "device_name": "test", "date": "2026-01-01T00:00:00+00:00",
                  "scalinglab_version": "0.1.0", "torch_version": "2.3.0", "git_commit": "abc123"}
    store = ResultsStore(tmp_path / "allocation", create=True)
    exponents = {"shapes": 0.5, "arithmetic": 0.7}
    for kind, a in exponents.items():
        corpus = CorpusConfig(kind=kind, n_tokens=200_000)
        for flops in (1e10, 1e11, 1e12):
            best = 3.0 * flops**a / 1e10**a * 1000
            for d_model in (8, 12, 16, 24, 32):
                n = 12 * 2 * d_model**2
                config = TrainConfig(model=GPTConfig(n_layer=2, n_head=2, d_model=d_model, n_ctx=64), corpus=corpus,
                                     flops=flops, lr=1e-3)
                loss = 1.0 + 0.1 * math.log(n / best) ** 2
                store.put(run_record(fake_result(config, loss=loss, n_params=n, tokens=int(flops / (6 * n))),
                                     provenance))
    fits = allocation_by_modality(load_table(tmp_path / "allocation"))
    assert list(fits) == ["images", "arithmetic"]  # MODALITIES order
    assert fits["images"].a == pytest.approx(0.5, abs=1e-6) and fits["arithmetic"].a == pytest.approx(0.7, abs=1e-6)
    common = common_exponent(list(fits.values()))
    assert 0.5 < common.a < 0.7 and common.exponents == pytest.approx([0.5, 0.7], abs=1e-6)


def test_profile_sharpness_sets_the_profiles_rise_against_the_seeds_spread(tmp_path, fake_result):
    from scalinglab.results import RunTable, load_table
    from scalinglab.runs import GPTConfig, TrainConfig, run_record
    from scalinglab.store import ResultsStore
    from scalinglab.universality import allocation_by_modality, profile_sharpness

    provenance = {"device": "cpu", "device_name": "test", "date": "2026-01-01T00:00:00+00:00",
                  "scalinglab_version": "0.1.0", "torch_version": "2.3.0", "git_commit": "abc123"}
    store = ResultsStore(tmp_path / "allocation", create=True)
    curvature = {"shapes": 0.1, "arithmetic": 0.01}  # loss = 1 + c (ln N/N_opt)^2, seeds +-0.02 apart
    for kind, c in curvature.items():
        corpus = CorpusConfig(kind=kind, n_tokens=200_000)
        for flops in (1e10, 1e11, 1e12):
            best = 3000.0 * (flops / 1e10) ** 0.5
            for d_model in (8, 12, 16, 24, 32):
                n = 12 * 2 * d_model**2
                for seed, shift in ((0, -0.01), (1, 0.01)):
                    config = TrainConfig(model=GPTConfig(n_layer=2, n_head=2, d_model=d_model, n_ctx=64), corpus=corpus,
                                         flops=flops, lr=1e-3, seed=seed)
                    loss = 1.0 + c * math.log(n / best) ** 2 + shift
                    store.put(run_record(fake_result(config, loss=loss, n_params=n, tokens=int(flops / (6 * n))),
                                         provenance))
    table = load_table(tmp_path / "allocation")
    found = profile_sharpness(table, allocation_by_modality(table))
    assert list(found) == ["images", "arithmetic"]
    for name, c in (("images", 0.1), ("arithmetic", 0.01)):
        assert found[name].seed_sd_nats == pytest.approx(0.01 * math.sqrt(2), rel=1e-6)  # two seeds 0.02 apart
        assert found[name].n_groups == 15
        np.testing.assert_allclose(found[name].rise_nats, c * math.log(2) ** 2, rtol=1e-6)
    assert found["images"].rise_over_noise > 1 > found["arithmetic"].rise_over_noise
    one_seed = table.filter(lambda run: run.result.config.seed == 0)
    assert profile_sharpness(one_seed, allocation_by_modality(one_seed)) == {}
    with pytest.raises(ValueError, match="^table must be a RunTable"):
        profile_sharpness([], {})
    assert profile_sharpness(RunTable(()), {}) == {}
