"""Closed-form estimates: parameters, FLOPs, time, memory, hardware and stocks of text.

Every function here is a formula with its assumptions in its arguments, so that a
notebook can show each assumption as a named variable and change it. The docstrings
state the formula, the units, which parameter count it uses (with or without
embeddings) and where it comes from.

Sources named below:

- Kaplan et al. (2020), "Scaling Laws for Neural Language Models", arXiv:2001.08361.
- Brown et al. (2020), "Language Models are Few-Shot Learners", arXiv:2005.14165.
- Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models",
  arXiv:2203.15556.
- Pearce and Song (2024), "Reconciling Kaplan and Chinchilla Scaling Laws",
  arXiv:2406.12907.
- Porian et al. (2024), "Resolving Discrepancies in Compute-Optimal Scaling of Language
  Models", arXiv:2406.19146.
- Rajbhandari et al. (2020), "ZeRO: Memory Optimizations Toward Training Trillion
  Parameter Models", arXiv:1910.02054.
- NVIDIA A100 Tensor Core GPU datasheet (2020) and H100 Tensor Core GPU datasheet (2022).
- Raspberry Pi 5 product brief (Raspberry Pi Ltd, 2023); Arm Cortex-A76 Software
  Optimization Guide.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._checks import fraction, non_negative_int, positive_float, positive_int

#: Avogadro's number, exact by the 2019 SI definition of the mole (per mole).
AVOGADRO = 6.02214076e23

SECONDS_PER_DAY = 86_400

#: One petaflop/s-day: 10^15 FLOP/s sustained for a day, 8.64e19 FLOPs (Brown et al., 2020).
PETAFLOP_S_DAY = 1e15 * SECONDS_PER_DAY


# --- parameters and FLOPs -------------------------------------------------------------


def transformer_params(n_layer: int, d_model: int, *, vocab_size: int = 0, n_ctx: int = 0) -> int:
    """Parameters of a decoder-only transformer: ``12 * n_layer * d_model**2`` plus embeddings.

    Each layer holds ``4 d^2`` in attention (query, key, value and output projections)
    and ``8 d^2`` in a feed-forward block of width ``4 d``: the non-embedding count of
    Kaplan et al. (2020), Table 1, which leaves out biases and LayerNorm gains.
    ``vocab_size * d_model`` token-embedding and ``n_ctx * d_model`` learned
    position-embedding parameters are added when given; 0 (the default) leaves them out,
    so the default is the *non-embedding* count.
    """
    n_layer = positive_int("n_layer", n_layer)
    d_model = positive_int("d_model", d_model)
    vocab_size = non_negative_int("vocab_size", vocab_size)
    n_ctx = non_negative_int("n_ctx", n_ctx)
    return 12 * n_layer * d_model**2 + (vocab_size + n_ctx) * d_model


def forward_flops_per_token(n_params: float) -> float:
    """FLOPs of one forward pass per token, ``2 N``: one multiply and one add per weight.

    ``n_params`` is the non-embedding count (an embedding lookup costs no
    multiply-adds); attention over the context comes on top, see
    :func:`attention_flops_ratio`. Source: Kaplan et al. (2020), Table 1.
    """
    return 2.0 * positive_float("n_params", n_params)


def training_flops(n_params: float, n_tokens: float) -> float:
    """Training compute in FLOPs, ``C = 6 N D``.

    The forward pass costs ``2 N`` FLOPs per token and the backward pass twice that,
    so ``6 N`` per token over ``D = n_tokens`` tokens. ``n_params`` is, strictly, the
    non-embedding count (Kaplan et al., 2020, Section 2.1); for large models the
    difference is small. Attention over the context is left out.
    """
    return 6.0 * positive_float("n_params", n_params) * positive_float("n_tokens", n_tokens)


def head_flops_per_token(d_model: int, vocab_size: int) -> int:
    """Training FLOPs per token of the output head (unembedding), ``6 d_model vocab_size``.

    The head multiplies the final ``d_model``-vector by a ``d_model x vocab_size`` matrix:
    ``2 d_model vocab_size`` FLOPs forward (a multiply and an add per weight), twice that
    backward (the gradients of its input and of its weight), whether or not the matrix is
    tied to the token embedding. Kaplan et al.'s (2020) ``6 N`` leaves it out, since their N
    counts no embedding parameters; Pearce and Song (2024) and Porian et al. (2024) trace
    much of the gap between Kaplan's and Chinchilla's compute-optimal exponents to leaving
    out the embedding parameters and this head's compute, which is a large share of the
    FLOPs of small models with large vocabularies. Softmax and the loss are not counted.
    """
    d_model = positive_int("d_model", d_model)
    vocab_size = positive_int("vocab_size", vocab_size)
    return 6 * d_model * vocab_size


def attention_flops_ratio(n_ctx: int, d_model: int) -> float:
    """Attention FLOPs relative to weight FLOPs, per token: ``n_ctx / (12 d_model)``.

    Per token and layer, scoring the keys and mixing the values cost
    ``2 n_ctx d_model`` forward FLOPs, against ``2 * 12 d_model^2`` for the weights
    (Kaplan et al., 2020, Table 1). The number of layers cancels. Small models with long
    contexts spend a large share on attention; large models, almost none.
    """
    n_ctx = positive_int("n_ctx", n_ctx)
    d_model = positive_int("d_model", d_model)
    return n_ctx / (12 * d_model)


def attention_flops_share(n_ctx: int, d_model: int) -> float:
    """Fraction of all forward FLOPs spent on attention over the context, ``r / (1 + r)``.

    ``r`` is :func:`attention_flops_ratio`; embeddings and the output layer are left out.
    """
    ratio = attention_flops_ratio(n_ctx, d_model)
    return ratio / (1.0 + ratio)


def tokens_per_parameter(n_tokens: float, n_params: float) -> float:
    """Training tokens per parameter, ``D / N``: about 20 is compute-optimal (Hoffmann et al., 2022)."""
    return positive_float("n_tokens", n_tokens) / positive_float("n_params", n_params)


# --- time -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Device:
    """A chip or a machine: its peak throughput at one precision and, where known, its memory.

    The one hardware table of the package: :func:`training_seconds` needs the peak, the
    inference calculators of :mod:`scalinglab.limits` the memory and its bandwidth too.

    Attributes:
        name: the device, e.g. ``"NVIDIA A100"``.
        precision: the number format of the peak, e.g. ``"bf16"`` or ``"fp32"``.
        peak_flops_per_second: peak dense throughput at ``precision``, in FLOP/s.
        source: where the figures come from.
        memory_bytes: memory that holds the weights, in bytes; ``None`` if not recorded.
        memory_bandwidth_bytes_per_second: bandwidth of that memory, in bytes/s;
            ``None`` if not recorded.

    Raises:
        ValueError: a figure that is not a finite number > 0 (``None`` is allowed for the
            memory and its bandwidth), named.
    """

    name: str
    precision: str
    peak_flops_per_second: float
    source: str
    memory_bytes: float | None = None
    memory_bandwidth_bytes_per_second: float | None = None

    def __post_init__(self) -> None:
        positive_float("peak_flops_per_second", self.peak_flops_per_second)
        for field in ("memory_bytes", "memory_bandwidth_bytes_per_second"):
            if getattr(self, field) is not None:
                positive_float(field, getattr(self, field))


_A100 = "NVIDIA A100 Tensor Core GPU datasheet (2020), dense (no sparsity)"

#: NVIDIA H100 SXM in bf16: 989e12 FLOP/s dense, 80 GB of HBM3 (taken as 80 x 2^30
#: bytes) at 3.35e12 bytes/s.
H100_SXM = Device(
    "NVIDIA H100 SXM",
    "bf16",
    989e12,
    "NVIDIA H100 Tensor Core GPU datasheet (2022), SXM5: 989 TFLOP/s dense bf16 (half the "
    "'with sparsity' figure), 80 GB HBM3, 3.35 TB/s",
    memory_bytes=80 * 2**30,
    memory_bandwidth_bytes_per_second=3.35e12,
)

#: Peak dense throughput of common accelerators, keyed by a short name.
ACCELERATORS: dict[str, Device] = {
    "A100 fp32": Device("NVIDIA A100", "fp32", 19.5e12, _A100),
    "A100 tf32": Device("NVIDIA A100", "tf32", 156e12, _A100),
    "A100 bf16": Device("NVIDIA A100", "bf16", 312e12, _A100),
    "H100 SXM bf16": H100_SXM,
}

#: Raspberry Pi 5, 8 GB, in fp32. Bandwidth: LPDDR4X-4267 on a 32-bit bus, 4267e6
#: transfers/s x 4 bytes = 1.7068e10 bytes/s, theoretical (sustained is lower). FLOP/s, an
#: estimate: four Cortex-A76 cores at 2.4 GHz, each with two 128-bit NEON FMA pipes (4 fp32
#: lanes x 2 FLOPs per FMA x 2 pipes = 16 FLOPs a cycle): 4 x 2.4e9 x 16 = 1.536e11 fp32
#: FLOP/s peak. Memory: 8 GB taken as 8 x 2^30 bytes.
RASPBERRY_PI_5 = Device(
    "Raspberry Pi 5 (8 GB)",
    "fp32",
    4 * 2.4e9 * 16,
    "Raspberry Pi 5 product brief (2023): 4 or 8 GB LPDDR4X-4267 SDRAM (32-bit bus), "
    "quad-core Cortex-A76 at 2.4 GHz. Bandwidth 4267 MT/s x 4 bytes, theoretical. "
    "FLOP/s an estimate: 4 cores x 2.4 GHz x 16 fp32 FLOPs a cycle (two 128-bit FMA "
    "pipes, Arm Cortex-A76 Software Optimization Guide), a peak no program sustains",
    memory_bytes=8 * 2**30,
    memory_bandwidth_bytes_per_second=4267e6 * 4,
)


def petaflop_s_days(flops: float) -> float:
    """Convert FLOPs to petaflop/s-days: ``flops / 8.64e19``, the unit of Brown et al. (2020)."""
    return positive_float("flops", flops) / PETAFLOP_S_DAY


def training_seconds(flops: float, *, peak_flops_per_second: float, utilization: float) -> float:
    """Wall-clock seconds to perform ``flops`` on one device: ``flops / (peak * utilization)``.

    ``peak_flops_per_second`` is the device's peak in FLOP/s (e.g.
    ``ACCELERATORS["A100 bf16"].peak_flops_per_second``); ``utilization`` is the fraction
    of peak actually sustained (model FLOPs utilization), in (0, 1]; 0.3 to 0.5 is
    typical of large training runs on GPUs.
    """
    flops = positive_float("flops", flops)
    peak_flops_per_second = positive_float("peak_flops_per_second", peak_flops_per_second)
    utilization = fraction("utilization", utilization)
    return flops / (peak_flops_per_second * utilization)


def training_days(flops: float, *, peak_flops_per_second: float, utilization: float) -> float:
    """Device-days to perform ``flops``: :func:`training_seconds` divided by 86,400.

    On one device this is also the wall-clock time in days; ``k`` devices at the same
    utilization take ``1/k`` of it.
    """
    seconds = training_seconds(flops, peak_flops_per_second=peak_flops_per_second, utilization=utilization)
    return seconds / SECONDS_PER_DAY


# --- memory ---------------------------------------------------------------------------


def weights_memory_bytes(n_params: float, bits: float = 16) -> float:
    """Bytes to store the weights alone: ``n_params * bits / 8``.

    ``bits`` per weight: 16 (the default) for fp16/bf16, 32 for fp32, 8 or 4 when
    quantized (:func:`scalinglab.limits.fits_in_memory` and the other inference
    calculators accept only :data:`scalinglab.limits.SUPPORTED_BITS`). Quantization
    scales and zero points (a few % at 4 bits) are left out. Example: 13e9 parameters at
    4 bits are 6.5e9 bytes.
    """
    return positive_float("n_params", n_params) * positive_float("bits", bits) / 8


def training_memory_bytes(n_params: float, *, bytes_per_param: float = 16) -> float:
    """Bytes of model state for training with Adam: ``n_params * bytes_per_param``.

    The default of 16 bytes per parameter is mixed-precision Adam as counted by
    Rajbhandari et al. (2020): 2 (fp16 weights) + 2 (fp16 gradients) + 4 (fp32 master
    weights) + 4 (momentum) + 4 (variance). Plain fp32 Adam also comes to 16: 4 each for
    weights, gradients, momentum and variance. Activations, which grow with batch size
    and context, come on top and are left out.
    """
    return positive_float("n_params", n_params) * positive_float("bytes_per_param", bytes_per_param)


# --- reference models -----------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceModel:
    """A published model: its stated size, shape and training tokens, with the source."""

    name: str
    stated_params: float
    n_layer: int
    d_model: int
    n_head: int
    n_ctx: int
    vocab_size: int
    n_tokens: float
    source: str
    learned_positions: bool = True

    def formula_params(self, *, embeddings: bool = False) -> int:
        """``12 L d^2``, plus token (and learned position) embeddings when ``embeddings``."""
        if not embeddings:
            return transformer_params(self.n_layer, self.d_model)
        n_positions = self.n_ctx if self.learned_positions else 0
        return transformer_params(self.n_layer, self.d_model, vocab_size=self.vocab_size, n_ctx=n_positions)


_GPT3_SOURCE = (
    "Brown et al. (2020), Table 2.1; n_ctx 2048, GPT-2's BPE vocabulary of 50257 tokens, "
    "300 billion training tokens for every size"
)
#: Tokens every GPT-3 model was trained on (Brown et al., 2020, Table 2.1).
GPT3_TRAINING_TOKENS = 300e9


def _gpt3(name: str, stated_params: float, n_layer: int, d_model: int, n_head: int) -> ReferenceModel:
    return ReferenceModel(name, stated_params, n_layer, d_model, n_head, 2048, 50257, GPT3_TRAINING_TOKENS, _GPT3_SOURCE)


#: The eight GPT-3 models, smallest first, with the sizes Brown et al. (2020) state.
GPT3_FAMILY: tuple[ReferenceModel, ...] = (
    _gpt3("GPT-3 Small", 125e6, 12, 768, 12),
    _gpt3("GPT-3 Medium", 350e6, 24, 1024, 16),
    _gpt3("GPT-3 Large", 760e6, 24, 1536, 16),
    _gpt3("GPT-3 XL", 1.3e9, 24, 2048, 24),
    _gpt3("GPT-3 2.7B", 2.7e9, 32, 2560, 32),
    _gpt3("GPT-3 6.7B", 6.7e9, 32, 4096, 32),
    _gpt3("GPT-3 13B", 13e9, 40, 5140, 40),  # 5140 as printed (40 heads of 128 would give 5120)
    _gpt3("GPT-3 175B", 175e9, 96, 12288, 96),
)

#: GPT-3 175B, the model the lecture's estimates are about.
GPT3 = GPT3_FAMILY[-1]

#: Total training compute of GPT-3 175B as stated by Brown et al. (2020), Table D.1.
GPT3_STATED_TRAINING_FLOPS = 3.14e23
GPT3_STATED_PETAFLOP_S_DAYS = 3.64e3

#: Chinchilla (Hoffmann et al., 2022, Table 4 and Section 4): relative position
#: encodings (no learned position table) and a 32,000-token SentencePiece vocabulary.
CHINCHILLA = ReferenceModel(
    "Chinchilla",
    70e9,
    80,
    8192,
    64,
    2048,
    32000,
    1.4e12,
    "Hoffmann et al. (2022), Table 4; 1.4 trillion training tokens",
    learned_positions=False,
)

#: Chinchilla's training budget as stated by Hoffmann et al. (2022), the same as Gopher's.
CHINCHILLA_STATED_TRAINING_FLOPS = 5.76e23


# --- stocks of text -------------------------------------------------------------------


def words_read_in_lifetime(
    words_per_minute: float = 250, hours_per_day: float = 5, years: float = 70
) -> float:
    """Words a person reads in a lifetime: ``wpm * 60 * hours_per_day * 365 * years``.

    250 words per minute is about the average silent reading rate of adults in English
    (Brysbaert, 2019, "How many words do we read per minute?", a meta-analysis: 238 for
    non-fiction, 260 for fiction). Five hours a day for seventy years is a generous
    upper bound, a lifetime of heavy reading: it gives about 2e9 words.
    """
    words_per_minute = positive_float("words_per_minute", words_per_minute)
    hours_per_day = positive_float("hours_per_day", hours_per_day)
    years = positive_float("years", years)
    return words_per_minute * 60 * hours_per_day * 365 * years


def english_wikipedia_words(n_articles: float = 6.8e6, words_per_article: float = 668) -> float:
    """Words in English Wikipedia's articles: ``n_articles * words_per_article``.

    Defaults from "Wikipedia:Size of Wikipedia" (April 2024): 6.8 million articles,
    a mean of about 668 words each, over 4.5 billion words in all.
    """
    return positive_float("n_articles", n_articles) * positive_float("words_per_article", words_per_article)


def library_of_congress_words(n_books: float = 2.4e7, words_per_book: float = 1e5) -> float:
    """Words in the Library of Congress's books: ``n_books * words_per_book``.

    About 24 million catalogued books (the Library's own counts, 2013 to 2016) times an
    assumed 100,000 words for a typical book; other printed items and manuscripts are
    left out.
    """
    return positive_float("n_books", n_books) * positive_float("words_per_book", words_per_book)


def common_crawl_words(n_pages: float = 2.5e11, words_per_page: float = 1e3) -> float:
    """Words in all of Common Crawl's archives: ``n_pages * words_per_page``.

    Common Crawl reports over 250 billion pages collected since 2008 (commoncrawl.org,
    2024), duplicates across monthly crawls included; 1,000 words of text per page is a
    round, assumed figure. The result is an order of magnitude, 10^14 to 10^15 words,
    most of it boilerplate, spam or repeated.
    """
    return positive_float("n_pages", n_pages) * positive_float("words_per_page", words_per_page)


def tokens_from_words(words: float, tokens_per_word: float = 4 / 3) -> float:
    """Tokens in ``words`` words of English: ``words * tokens_per_word``.

    OpenAI's rule of thumb for its BPE tokenizers: a token is about 3/4 of a word, so
    about 4/3 tokens per word.
    """
    return positive_float("words", words) * positive_float("tokens_per_word", tokens_per_word)


def words_from_tokens(tokens: float, tokens_per_word: float = 4 / 3) -> float:
    """Words in ``tokens`` tokens of English: ``tokens / tokens_per_word`` (the inverse of :func:`tokens_from_words`)."""
    return positive_float("tokens", tokens) / positive_float("tokens_per_word", tokens_per_word)
