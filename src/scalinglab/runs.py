"""Configs and results of training runs, as frozen dataclasses, and a run's identity.

This module needs no torch: a results store can be read (:mod:`scalinglab.results`) on a
machine without it. It holds

- :class:`GPTConfig` and :class:`LSTMConfig`, the shapes of the two architectures
  (:mod:`scalinglab.model` builds the modules);
- :class:`TrainConfig`, everything that determines a run, and its id
  (:meth:`TrainConfig.config_hash`, a hash of the fields that differ from their defaults);
- :class:`RunResult`, what a run measured, and the JSON record a results store keeps
  of it (:func:`run_record`, :meth:`RunResult.from_record`).

The budget is either ``tokens`` (training tokens) or ``flops`` (training FLOPs, turned
into tokens with the model's :meth:`~scalinglab.model.GPT.flops_per_token`, Kaplan's
``6N + 6 n_layer n_ctx d_model`` with N non-embedding). The learning rate warms up
linearly, then follows a cosine down to ``min_lr_fraction * lr``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from ._checks import non_negative_float, non_negative_int, one_of, positive_float, positive_int
from .corpora import CorpusConfig

DEVICES = ("auto", "cpu", "cuda", "mps")
"""Where a run may be asked to train: ``"auto"`` picks CUDA, then MPS, then the CPU."""
PRECISIONS = ("auto", "fp32", "bf16")
EVAL_SPACINGS = ("log", "linear")
DEFAULT_EVALUATION_PROBES = ("icl_score", "prefix_matching", "induction_mass")
"""The probes measured at every evaluation unless a config names others
(:mod:`scalinglab.probes`)."""
TRAIN_CURVE_POINTS = 256
"""The training-loss curve of a :class:`RunResult` is averaged into at most this many points."""


def _check_dropout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"dropout must be a number in [0, 1), got {value!r}")
    return float(value)


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


@dataclass(frozen=True)
class GPTConfig:
    """Shape of a :class:`GPT`. Frozen, hashable; ``to_dict`` gives plain JSON.

    Attributes:
        n_layer: transformer blocks.
        n_head: attention heads; must divide ``d_model``.
        d_model: width of the residual stream.
        n_ctx: context length in tokens (the size of the position embedding).
        vocab_size: tokens in the vocabulary (256 for bytes).
        dropout: dropout probability (0 for the scaling experiments).
        tied_embeddings: the output head reuses the token embedding matrix.
        bias: Linear layers and LayerNorms have biases.
    """

    n_layer: int = 2
    n_head: int = 4
    d_model: int = 128
    n_ctx: int = 128
    vocab_size: int = 256
    dropout: float = 0.0
    tied_embeddings: bool = True
    bias: bool = True

    arch = "gpt"

    def __post_init__(self) -> None:
        for name in ("n_layer", "n_head", "d_model", "n_ctx", "vocab_size"):
            positive_int(name, getattr(self, name))
        if self.d_model % self.n_head:
            raise ValueError(f"d_model must be divisible by n_head, got d_model={self.d_model}, n_head={self.n_head}")
        _check_dropout(self.dropout)
        _check_bool("tied_embeddings", self.tied_embeddings)
        _check_bool("bias", self.bias)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, with ``"arch": "gpt"`` so :func:`model_config_from_dict` can rebuild it."""
        return {"arch": self.arch, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class LSTMConfig:
    """Shape of an :class:`LSTM` baseline. Frozen, hashable; ``to_dict`` gives plain JSON.

    Attributes:
        n_layer: stacked LSTM layers.
        d_model: hidden and embedding width.
        n_ctx: training context length in tokens (the LSTM itself has no limit).
        vocab_size: tokens in the vocabulary.
        dropout: dropout between layers and before the head.
        tied_embeddings: the output head reuses the token embedding matrix.
    """

    n_layer: int = 2
    d_model: int = 128
    n_ctx: int = 128
    vocab_size: int = 256
    dropout: float = 0.0
    tied_embeddings: bool = True

    arch = "lstm"

    def __post_init__(self) -> None:
        for name in ("n_layer", "d_model", "n_ctx", "vocab_size"):
            positive_int(name, getattr(self, name))
        _check_dropout(self.dropout)
        _check_bool("tied_embeddings", self.tied_embeddings)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, with ``"arch": "lstm"``."""
        return {"arch": self.arch, **dataclasses.asdict(self)}


ModelConfig = GPTConfig | LSTMConfig


MODEL_CONFIGS: dict[str, type[GPTConfig] | type[LSTMConfig]] = {"gpt": GPTConfig, "lstm": LSTMConfig}
"""Architecture name -> its config class: the one place the architectures are listed
(:data:`scalinglab.model.MODELS` maps the same names to the modules)."""


def model_config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """Rebuild a :class:`GPTConfig` or :class:`LSTMConfig` from its ``to_dict`` form.

    An unknown key raises ``ValueError`` naming it and the keys the architecture has.
    """
    data = dict(data)
    arch = one_of("arch", data.pop("arch", "gpt"), tuple(MODEL_CONFIGS))
    config_class = MODEL_CONFIGS[arch]
    allowed = {f.name for f in dataclasses.fields(config_class)}
    for key in data:
        if key not in allowed:
            raise ValueError(f"{key!r} is not a field of a {arch!r} model; it has: arch, {', '.join(sorted(allowed))}")
    return config_class(**data)


def _probe_names(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
        raise ValueError(f"{name} must be a list of probe names, got {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run. Frozen, hashable, JSON round-trip.

    Attributes:
        model: a :class:`GPTConfig` or :class:`LSTMConfig`.
        corpus: the :class:`~scalinglab.corpora.CorpusConfig` to train on.
        tokens: training budget in tokens; give exactly one of ``tokens`` and ``flops``.
        flops: training budget in FLOPs (Kaplan convention, see the module docstring).
        unique_tokens: train on only the first ``unique_tokens`` training tokens
            (:meth:`~scalinglab.corpora.Corpus.unique_subset`), repeated for as many
            epochs as the budget needs; ``None`` uses the whole training split.
        batch_size: sequences per step (each ``n_ctx`` tokens).
        lr: peak learning rate of AdamW (betas 0.9, 0.95).
        warmup_fraction: fraction of the steps spent warming up linearly, in [0, 1).
        min_lr_fraction: the cosine ends at ``min_lr_fraction * lr``, in [0, 1].
        weight_decay: AdamW decoupled weight decay on matrices (not biases or norms).
        grad_clip: clip the gradient's global norm to this (0: no clipping).
        seed: seeds initialisation and batches.
        n_evals: validation evaluations (at most; fewer when steps are few), the last at the end.
        eval_spacing: ``"log"`` (default) spaces them evenly in log(steps), for learning
            curves on log axes; ``"linear"`` evenly in steps.
        eval_tokens: validation tokens per evaluation (rounded up to whole windows).
        device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"`` or ``"mps"``.
        compile: ``torch.compile`` the model: ``True``, ``False``, or ``"auto"`` (on CUDA
            only: on a 2-core CPU compiling took ~20-45 s and then ran no faster than eager).
        precision: ``"auto"`` (bf16 autocast where bf16 matmuls are native: a CUDA GPU of
            compute capability 8.0+, or a CPU with AMX or AVX512-BF16 for d_model >= 128;
            fp32 elsewhere; see :func:`scalinglab.train.resolve_precision`), ``"fp32"``,
            or ``"bf16"`` (autocast: matmuls in bfloat16, slow on CPUs without native bf16).
        evaluation_probes: probes measured at every evaluation, by name (see
            :mod:`scalinglab.probes`), into ``RunResult.val_probes``; by default Olsson
            et al.'s in-context learning score and, for a GPT, the best head's
            prefix-matching score and induction mass.
        probes: probes measured on the trained model at the end, by name, into
            ``RunResult.probes``: ``"few_shot"``, ``"induction"``, ``"skills"``.
        pretrain_corpus, pretrain_tokens: pre-train first (give both or neither): the
            model is trained on ``pretrain_tokens`` tokens of ``pretrain_corpus`` with
            this config's other settings, then trained ("fine-tuned") on ``corpus`` from
            those weights with a fresh optimiser and schedule. The result's tokens, FLOPs
            and curves count the fine-tuning only.
        pretrain_lr: the peak learning rate of the pre-training (only with
            ``pretrain_corpus``); None pre-trains at ``lr``. With it, the fine-tuning rate
            can be scanned while every fine-tuned run starts from the same pre-trained
            weights.

    Probe names are checked against the registry by :func:`scalinglab.probes.check_probes`,
    which training and sweeps call before a run starts.
    """

    model: ModelConfig = field(default_factory=GPTConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    tokens: int | None = None
    flops: float | None = None
    unique_tokens: int | None = None
    batch_size: int = 16
    lr: float = 1e-3
    warmup_fraction: float = 0.05
    min_lr_fraction: float = 0.1
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    n_evals: int = 8
    eval_spacing: str = "log"
    eval_tokens: int = 16_384
    device: str = "auto"
    compile: bool | str = "auto"
    precision: str = "auto"
    evaluation_probes: tuple[str, ...] = DEFAULT_EVALUATION_PROBES
    probes: tuple[str, ...] = ()
    pretrain_corpus: CorpusConfig | None = None
    pretrain_tokens: int | None = None
    pretrain_lr: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, tuple(MODEL_CONFIGS.values())):
            raise ValueError(f"model must be a GPTConfig or LSTMConfig, got {type(self.model).__name__}")
        if not isinstance(self.corpus, CorpusConfig):
            raise ValueError(f"corpus must be a CorpusConfig, got {type(self.corpus).__name__}")
        if (self.tokens is None) == (self.flops is None):
            raise ValueError("budget: give exactly one of tokens or flops")
        if self.tokens is not None:
            positive_int("tokens", self.tokens)
        if self.flops is not None:
            positive_float("flops", self.flops)
        if self.unique_tokens is not None:
            positive_int("unique_tokens", self.unique_tokens)
        positive_int("batch_size", self.batch_size)
        positive_float("lr", self.lr)
        if non_negative_float("warmup_fraction", self.warmup_fraction) >= 1:
            raise ValueError(f"warmup_fraction must be a number in [0, 1), got {self.warmup_fraction!r}")
        if non_negative_float("min_lr_fraction", self.min_lr_fraction) > 1:
            raise ValueError(f"min_lr_fraction must be a number in [0, 1], got {self.min_lr_fraction!r}")
        non_negative_float("weight_decay", self.weight_decay)
        non_negative_float("grad_clip", self.grad_clip)
        non_negative_int("seed", self.seed)
        positive_int("n_evals", self.n_evals)
        one_of("eval_spacing", self.eval_spacing, EVAL_SPACINGS)
        positive_int("eval_tokens", self.eval_tokens)
        one_of("device", self.device, DEVICES)
        if not isinstance(self.compile, bool) and self.compile != "auto":
            raise ValueError(f"compile must be 'auto', True or False, got {self.compile!r}")
        one_of("precision", self.precision, PRECISIONS)
        object.__setattr__(self, "evaluation_probes", _probe_names("evaluation_probes", self.evaluation_probes))
        object.__setattr__(self, "probes", _probe_names("probes", self.probes))
        if (self.pretrain_corpus is None) != (self.pretrain_tokens is None):
            raise ValueError("pretrain_corpus and pretrain_tokens: give both or neither")
        if self.pretrain_corpus is not None and not isinstance(self.pretrain_corpus, CorpusConfig):
            raise ValueError(f"pretrain_corpus must be a CorpusConfig, got {type(self.pretrain_corpus).__name__}")
        if self.pretrain_tokens is not None:
            positive_int("pretrain_tokens", self.pretrain_tokens)
        if self.pretrain_lr is not None:
            positive_float("pretrain_lr", self.pretrain_lr)
            if self.pretrain_corpus is None:
                raise ValueError("pretrain_lr needs pretrain_corpus and pretrain_tokens (it sets the pre-training's lr)")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (nested model and corpus dicts)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        pretrain = self.pretrain_corpus.to_dict() if self.pretrain_corpus is not None else None
        return {
            **data, "model": self.model.to_dict(), "corpus": self.corpus.to_dict(),
            "evaluation_probes": list(self.evaluation_probes), "probes": list(self.probes), "pretrain_corpus": pretrain,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; also reads the configs of older records (``compile``
        was ``None`` for "auto")."""
        data = dict(data)
        data["model"] = model_config_from_dict(data["model"])
        data["corpus"] = CorpusConfig.from_dict(data["corpus"])
        if data.get("pretrain_corpus") is not None:
            data["pretrain_corpus"] = CorpusConfig.from_dict(data["pretrain_corpus"])
        if "compile" in data and data["compile"] is None:
            data["compile"] = "auto"
        known = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in known:
                raise ValueError(f"{key!r} is not a field of TrainConfig; it has: {', '.join(sorted(known))}")
        return cls(**data)

    def config_hash(self) -> str:
        """sha256 (hex) of the canonical JSON of :meth:`identity`: the run's id."""
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def identity(self) -> dict[str, Any]:
        """What makes two runs the same run: every field that differs from its default.

        ``device`` is left out (it says where a run is made, not what it is: the record's
        provenance says where it ran), and so is every field still at its default, in
        this config and in its model and corpus (the model's ``arch`` is always kept).
        A field added to the package later, with a default, so leaves the ids of the
        runs recorded before it unchanged.
        """
        excluded = ("device", "model", "corpus", "pretrain_corpus")
        changed = {k: v for k, v in _changed_fields(self).items() if k not in excluded}
        if self.pretrain_corpus is not None:
            changed["pretrain_corpus"] = self.pretrain_corpus.changed()
        return {
            **changed,
            "model": {"arch": self.model.arch, **_changed_fields(self.model)},
            "corpus": self.corpus.changed(),
        }


def _changed_fields(config: Any) -> dict[str, Any]:
    """The plain-JSON form of a config dataclass's fields that differ from their defaults."""
    data = config.to_dict()
    changed = {}
    for f in dataclasses.fields(config):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            changed[f.name] = data[f.name]
            continue
        if getattr(config, f.name) != default:
            changed[f.name] = data[f.name]
    return changed


@dataclass(frozen=True)
class RunResult:
    """What a training run measured. Frozen; ``to_dict``/``from_dict`` round-trip through JSON.

    Losses are in nats/token (bits/byte = nats / ln 2, since a token is a byte).
    ``epochs`` is training tokens over the unique training tokens available.
    ``train_*`` lists hold the training loss averaged over blocks of steps (at most
    :data:`TRAIN_CURVE_POINTS` blocks, log-spaced, each point at its block's last step),
    ``val_*`` lists one entry per evaluation;
    ``*_tokens`` are training tokens seen so far and ``*_flops`` = tokens x
    ``flops_per_token``. ``tokens_per_second`` and ``flops_per_second`` time the
    training steps after the first (which pays for warm-up and any compilation);
    ``mfu = flops_per_second / peak_flops_per_second`` when a peak was given.
    ``val_probes`` maps each evaluation probe that applies to the run (an LSTM has no
    attention heads to probe) to what it measured at each evaluation (one entry per
    evaluation, ``None`` where it could not measure, e.g. a window with no repeated
    token), and ``probes`` each end probe's name to what it measured on the trained model.
    """

    config: TrainConfig
    config_hash: str
    steps: int
    tokens: int
    flops: float
    epochs: float
    train_tokens: list[int]
    train_loss_nats: list[float]
    train_flops: list[float]
    val_tokens: list[int]
    val_loss_nats: list[float]
    val_flops: list[float]
    final_val_loss_nats: float
    final_val_loss_bits_per_byte: float
    val_loss_per_position_nats: list[float]
    n_params: int
    n_params_with_embedding: int
    flops_per_token: int
    seconds: float
    tokens_per_second: float
    flops_per_second: float
    peak_flops_per_second: float | None
    mfu: float | None
    device: str
    precision: str
    compiled: bool
    torch_version: str
    scalinglab_version: str
    python_version: str
    created: str
    val_probes: dict[str, list[Any]] = field(default_factory=dict)
    probes: dict[str, Any] = field(default_factory=dict)

    @property
    def best_val_loss_nats(self) -> float:
        """The least validation loss over the run's evaluations (early stopping), nats/token."""
        return float(min(self.val_loss_nats))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, the config included."""
        return {**self.fields_dict(), "config": self.config.to_dict()}

    def fields_dict(self) -> dict[str, Any]:
        """Plain-JSON form of every field but the config (what a record's ``result`` holds)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "config"}

    @classmethod
    def from_dict(cls, data: dict[str, Any], config: TrainConfig | None = None) -> RunResult:
        """Inverse of :meth:`to_dict` (or of :meth:`fields_dict`, given the ``config``).

        Results recorded by older versions load too: their per-evaluation in-context
        fields (``val_icl_score_nats``, ``val_prefix_matching``, ``val_induction_mass``)
        become ``val_probes`` entries, and their skills scores (``probes["addition"]``,
        ``probes["facts"]``) the ``"skills"`` probe's.
        """
        data = dict(data)
        stored = data.pop("config", None)
        if config is None:
            if stored is None:
                raise ValueError("data: a result without its config needs config=")
            config = TrainConfig.from_dict(stored)
        val_probes = dict(data.pop("val_probes", {}))
        for old, name in _LEGACY_VAL_FIELDS.items():
            if old in data:
                values = data.pop(old)
                if values:
                    val_probes[name] = values
        probes = dict(data.pop("probes", {}))
        if "addition" in probes or "facts" in probes:
            probes["skills"] = {key: probes.pop(key) for key in ("addition", "facts") if key in probes}
        return cls(**data, config=config, val_probes=val_probes, probes=probes)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> RunResult:
        """The result of a results store's record (see :func:`run_record`)."""
        return cls.from_dict(record["result"], TrainConfig.from_dict(record["config"]))

    def __repr__(self) -> str:
        return (
            f"RunResult(n_params={self.n_params:,}, tokens={self.tokens:,}, flops={self.flops:.3g}, "
            f"final_val_loss_nats={self.final_val_loss_nats:.4f}, tokens_per_second={self.tokens_per_second:,.0f}, "
            f"device={self.device!r})"
        )


_LEGACY_VAL_FIELDS = {
    "val_icl_score_nats": "icl_score",
    "val_prefix_matching": "prefix_matching",
    "val_induction_mass": "induction_mass",
}


def run_record(result: RunResult, provenance: dict[str, Any]) -> dict[str, Any]:
    """The JSON record a results store keeps of a run: ``{"run_id", "config", "result",
    "provenance"}``, the config stored once (``result`` holds every other field)."""
    return {
        "run_id": result.config_hash,
        "config": result.config.to_dict(),
        "result": result.fields_dict(),
        "provenance": provenance,
    }


def bits_per_byte(loss_nats: float) -> float:
    """A loss in nats per byte token as bits per byte: ``loss / ln 2``."""
    return loss_nats / math.log(2)
