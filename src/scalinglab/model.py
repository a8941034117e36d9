"""A decoder-only transformer (nanoGPT-style) and an LSTM baseline, with their counts.

Both models share one interface: ``model(idx, targets)`` returns ``(logits, loss)``,
``model.n_params(embedding=...)`` counts parameters, and ``model.flops_per_token()``
estimates training FLOPs per token the Kaplan way (``model.flops_per_token_with_head()``
adds the output head's).

Which parameters count as **embedding** (Kaplan et al. 2020 leave them out of N):
the token embedding (``vocab_size x d_model``), the learned position embedding
(``n_ctx x d_model``, transformer only) and, when the embeddings are *not* tied, the
output head's weight (``vocab_size x d_model``). Everything else, including biases and
LayerNorms, is **non-embedding**. For the transformer with biases::

    N = n_layer * (12 d^2 + 13 d) + 2 d  ≈  12 * n_layer * d^2

(per block: attention ``4d^2 + 4d``, MLP ``8d^2 + 5d``, two LayerNorms ``4d``; plus the
final LayerNorm ``2d``).

The configs (:class:`~scalinglab.runs.GPTConfig`, :class:`~scalinglab.runs.LSTMConfig`)
live in :mod:`scalinglab.runs`, which needs no torch; they are importable from here too.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fermi import head_flops_per_token
from .runs import MODEL_CONFIGS, GPTConfig, LSTMConfig, ModelConfig

__all__ = ["GPT", "LSTM", "MODELS", "GPTConfig", "LSTMConfig", "ModelConfig", "build_model"]

REDUCTIONS = ("mean", "none")


def build_model(config: ModelConfig) -> GPT | LSTM:
    """The model that ``config`` describes, freshly initialised (seed torch first)."""
    if not isinstance(config, tuple(MODEL_CONFIGS.values())):
        raise ValueError(f"config must be a GPTConfig or LSTMConfig, got {type(config).__name__}")
    return MODELS[config.arch](config)


class _LanguageModel(nn.Module):
    """What the GPT and the LSTM share: the loss, parameter counting and the head's FLOPs."""

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

    def flops_per_token(self) -> int:
        """Training FLOPs per token, the Kaplan et al. (2020) way (see each model)."""
        raise NotImplementedError

    def flops_per_token_with_head(self) -> int:
        """Training FLOPs per token with the output head: ``flops_per_token()`` plus
        ``6 d_model vocab_size`` (:func:`scalinglab.fermi.head_flops_per_token`).

        The unembedding matmul costs ``2 d_model vocab_size`` FLOPs forward and twice that
        backward, tied or not; ``flops_per_token()`` leaves it out, as Kaplan et al. (2020)
        did. This is the count Pearce and Song (2024) and Porian et al. (2024) argue for
        when comparing compute-optimal exponents: for small models with a large vocabulary
        the head is a large share of the compute. Recorded runs store
        ``flops_per_token()``; the head term follows from their config.
        """
        return self.flops_per_token() + head_flops_per_token(self.config.d_model, self.config.vocab_size)

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

    def forward(self, x: torch.Tensor, weights: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The attention's output; when a list ``weights`` is given, each head's attention
        pattern (batch, n_head, T, T) is appended to it: the causal
        ``softmax(q k^T / sqrt(d_head))`` that the output was computed with."""
        batch, time, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=2)
        q, k, v = (t.view(batch, time, self.n_head, width // self.n_head).transpose(1, 2) for t in (q, k, v))
        dropout = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        if weights is not None:
            scores = (q @ k.transpose(-2, -1)).float() / math.sqrt(width // self.n_head)
            future = torch.ones(time, time, dtype=torch.bool, device=x.device).triu(diagonal=1)
            weights.append(scores.masked_fill(future, float("-inf")).softmax(dim=-1))
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

    def forward(self, x: torch.Tensor, weights: list[torch.Tensor] | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), weights)
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
        return self._loss(self.head(self.ln_f(self._residual_stream(idx))), targets, reduction)

    @torch.no_grad()
    def attention_weights(self, idx: torch.Tensor) -> torch.Tensor:
        """Every head's attention pattern on ``idx`` (batch, T): (n_layer, batch, n_head, T, T).

        Entry [l, b, h, i, j] is the weight that head h of block l puts on position j
        when computing position i: ``softmax_j(q_i . k_j / sqrt(d_head))`` over j <= i
        (zero for j > i), in float32. Computed in a forward pass in the model's current
        mode (call ``eval()`` first for the patterns without dropout).
        """
        weights: list[torch.Tensor] = []
        self._residual_stream(idx, weights)
        return torch.stack(weights)

    def _residual_stream(self, idx: torch.Tensor, weights: list[torch.Tensor] | None = None) -> torch.Tensor:
        self._check_idx(idx)
        if idx.shape[1] > self.config.n_ctx:
            raise ValueError(f"idx has {idx.shape[1]} positions, more than n_ctx={self.config.n_ctx}")
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.dropout(self.token_embedding(idx) + self.position_embedding(positions))
        for block in self.blocks:
            x = block(x, weights)
        return x

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
    bias vectors), so ``N = n_layer (8 d^2 + 8 d)``. The recurrent core runs in float32
    under any autocast (under CUDA autocast cuDNN would run it in half precision, without a
    gradient scaler); only the head follows the run's precision.
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
        embedded = self.token_embedding(idx)
        if embedded.device.type in ("cpu", "cuda"):  # the recurrent core in fp32, under any autocast
            with torch.autocast(device_type=embedded.device.type, enabled=False):
                hidden, _ = self.lstm(embedded.float())
        else:
            hidden, _ = self.lstm(embedded)
        return self._loss(self.head(self.dropout(hidden)), targets, reduction)

    def flops_per_token(self) -> int:
        """Training FLOPs per token: ``6 N`` (N non-embedding), as for a dense network."""
        return 6 * self.n_params(embedding=False)


MODELS: dict[str, type[GPT] | type[LSTM]] = {"gpt": GPT, "lstm": LSTM}
"""Architecture name -> its module class (the names of :data:`scalinglab.runs.MODEL_CONFIGS`)."""
