"""A decoder-only transformer (nanoGPT-style) and an LSTM baseline, with their counts.

Both models share one interface: ``model(idx, targets)`` returns ``(logits, loss)``,
``model.n_params(embedding=...)`` counts parameters, and ``model.flops_per_token()``
estimates training FLOPs per token.

Which parameters count as **embedding** (Kaplan et al. 2020 leave them out of N):
the token embedding (``vocab_size x d_model``), the learned position embedding
(``n_ctx x d_model``, transformer only) and, when the embeddings are *not* tied, the
output head's weight (``vocab_size x d_model``). Everything else, including biases and
LayerNorms, is **non-embedding**. For the transformer with biases::

    N = n_layer * (12 d^2 + 13 d) + 2 d  ≈  12 * n_layer * d^2

(per block: attention ``4d^2 + 4d``, MLP ``8d^2 + 5d``, two LayerNorms ``4d``; plus the
final LayerNorm ``2d``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import positive_int

REDUCTIONS = ("mean", "none")


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


def model_config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """Rebuild a :class:`GPTConfig` or :class:`LSTMConfig` from its ``to_dict`` form."""
    data = dict(data)
    arch = data.pop("arch", "gpt")
    classes = {"gpt": GPTConfig, "lstm": LSTMConfig}
    if arch not in classes:
        raise ValueError(f"arch must be one of 'gpt', 'lstm', got {arch!r}")
    return classes[arch](**data)


def build_model(config: ModelConfig) -> GPT | LSTM:
    """The model that ``config`` describes, freshly initialised (seed torch first)."""
    if isinstance(config, GPTConfig):
        return GPT(config)
    if isinstance(config, LSTMConfig):
        return LSTM(config)
    raise ValueError(f"config must be a GPTConfig or LSTMConfig, got {type(config).__name__}")


class _LanguageModel(nn.Module):
    """What the GPT and the LSTM share: the loss, and parameter counting."""

    config: ModelConfig

    def _embedding_parameters(self) -> list[nn.Parameter]:
        raise NotImplementedError

    def n_params(self, embedding: bool = False) -> int:
        """Parameters of the module, exactly counted (shared tensors once).

        ``embedding=False`` gives Kaplan's non-embedding N (the one in the scaling
        laws); ``embedding=True`` the total, which adds the token embedding, the
        position embedding (GPT) and an untied output head.
        """
        total = sum(p.numel() for p in self.parameters())
        if embedding:
            return total
        return total - sum(p.numel() for p in self._embedding_parameters())

    def _loss(
        self, logits: torch.Tensor, targets: torch.Tensor | None, reduction: str
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if targets is None:
            return logits, None
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of 'mean', 'none', got {reduction!r}")
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction=reduction)
        return logits, loss.view_as(targets) if reduction == "none" else loss

    def _check_idx(self, idx: torch.Tensor) -> None:
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (batch, time), got {tuple(idx.shape)}")


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention through ``F.scaled_dot_product_attention``."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head, self.dropout = config.n_head, config.dropout
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=config.bias)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=2)
        q, k, v = (t.view(batch, time, self.n_head, width // self.n_head).transpose(1, 2) for t in (q, k, v))
        dropout = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(batch, time, width)))


class MLP(nn.Module):
    """``d_model -> 4 d_model -> GELU -> d_model``."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(config.d_model, 4 * config.d_model, bias=config.bias)
        self.proj = nn.Linear(4 * config.d_model, config.d_model, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(_LanguageModel):
    """Decoder-only transformer: token + learned position embeddings, pre-LN blocks, a head.

    The output head is tied to the token embedding when ``config.tied_embeddings`` is
    True (the default), and is a separate ``vocab_size x d_model`` matrix (counted as
    embedding) otherwise. Weights start as in GPT-2: normal(0, 0.02), with the residual
    projections scaled by ``1/sqrt(2 n_layer)``.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.position_embedding = nn.Embedding(config.n_ctx, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model, bias=config.bias)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tied_embeddings:
            self.head.weight = self.token_embedding.weight
        self.apply(self._init_weights)
        for name, parameter in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def _embedding_parameters(self) -> list[nn.Parameter]:
        untied_head = [] if self.config.tied_embeddings else [self.head.weight]
        return [self.token_embedding.weight, self.position_embedding.weight, *untied_head]

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, *, reduction: str = "mean"
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (batch, time, vocab) and, given ``targets`` (batch, time), the loss in nats.

        ``reduction="mean"`` gives the mean loss over all positions, ``"none"`` the loss
        at each position (batch, time). Without targets the loss is ``None``.
        """
        self._check_idx(idx)
        if idx.shape[1] > self.config.n_ctx:
            raise ValueError(f"idx has {idx.shape[1]} positions, more than n_ctx={self.config.n_ctx}")
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.dropout(self.token_embedding(idx) + self.position_embedding(positions))
        for block in self.blocks:
            x = block(x)
        return self._loss(self.head(self.ln_f(x)), targets, reduction)

    def flops_per_token(self) -> int:
        """Training FLOPs per token, Kaplan et al. (2020) Table 1 convention.

        Forward: ``2 N + 2 n_layer n_ctx d_model`` (N non-embedding; the second term is
        attention's QK^T and AV over the full context); training (forward + backward) is
        three times that: ``6 N + 6 n_layer n_ctx d_model``. Embedding lookups, the
        output head, LayerNorms and softmax are not counted.
        """
        c = self.config
        return 6 * self.n_params(embedding=False) + 6 * c.n_layer * c.n_ctx * c.d_model


class LSTM(_LanguageModel):
    """LSTM language model baseline: token embedding, stacked ``nn.LSTM``, a linear head.

    The output head is tied to the token embedding when ``config.tied_embeddings`` is
    True. Non-embedding parameters per layer: ``4 (2 d^2 + 2 d)`` (PyTorch keeps two
    bias vectors), so ``N = n_layer (8 d^2 + 8 d)``.
    """

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.lstm = nn.LSTM(
            config.d_model, config.d_model, num_layers=config.n_layer, batch_first=True, dropout=config.dropout
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        nn.init.normal_(self.token_embedding.weight, mean=0.0, std=0.02)
        if config.tied_embeddings:
            self.head.weight = self.token_embedding.weight
        else:
            nn.init.normal_(self.head.weight, mean=0.0, std=0.02)

    def _embedding_parameters(self) -> list[nn.Parameter]:
        untied_head = [] if self.config.tied_embeddings else [self.head.weight]
        return [self.token_embedding.weight, *untied_head]

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, *, reduction: str = "mean"
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Same contract as :meth:`GPT.forward`."""
        self._check_idx(idx)
        hidden, _ = self.lstm(self.token_embedding(idx))
        return self._loss(self.head(self.dropout(hidden)), targets, reduction)

    def flops_per_token(self) -> int:
        """Training FLOPs per token: ``6 N`` (N non-embedding), as for a dense network."""
        return 6 * self.n_params(embedding=False)
