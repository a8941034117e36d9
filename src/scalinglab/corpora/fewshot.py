"""``"fewshot"``: few-shot task demonstrations (:func:`scalinglab.tasks.task_document`).

Each document is a newline, with probability 1/2 a one-line task description, then
``word -> answer`` lines of one task (copy, first letter, last letter, or the first
letter in a letter code drawn per document) on the training words, up to
``document_tokens`` bytes. A model trained on it can be asked the same tasks in
context, on held-out words (:func:`scalinglab.probes.few_shot.few_shot_table`).
"""

from __future__ import annotations

import numpy as np

from ..tasks import task_document
from .base import CorpusConfig, CorpusKind, Parameter, at_least_two, encode, register


def _documents(config: CorpusConfig) -> list[np.ndarray]:
    rng = np.random.default_rng([config.seed, 3])
    documents, total = [], 0
    while total < config.n_tokens:
        documents.append(encode(task_document(rng, config.document_tokens)))
        total += len(documents[-1])
    return documents


KIND = register(CorpusKind(
    name="fewshot",
    title="few-shot task demonstrations",
    parameters={"document_tokens": Parameter(256, at_least_two, "bytes per document, filled with whole example lines")},
    documents=_documents,
))
