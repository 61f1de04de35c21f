"""Sentence embeddings with a content-hash cache (sentence-transformers).

The embedder is the ``models`` stage's sentence-transformers folder (multilingual-e5-small
offline). e5 was trained with the prefixes ``"query: "`` and ``"passage: "``; the folder
declares them as prompts, and symmetric comparisons (a category path against other
category paths, a source text against its translation) use ``"query"`` on both sides,
as the e5 authors advise.

Vectors are L2-normalised float32, so a dot product is the cosine similarity. Each
vector is cached under sha256(model revision, prompt name, text): embedding the same
catalogue again (another run, branch or experiment) costs a lookup.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from relevance.devices import flush_denormals
from relevance.errors import ConfigError
from relevance.kvstore import KeyValueStore, content_key
from relevance.modelfolder import check_safetensors, folder_revision

logger = logging.getLogger(__name__)


class Embedder:
    """Encode texts with a local sentence-transformers folder, through an optional cache.

    ``batch_size`` texts per forward pass; ``device`` ``"cpu"``, ``"cuda"`` or ``None``
    (sentence-transformers picks). The model loads on first use.
    """

    def __init__(
        self,
        folder: Path,
        *,
        cache: KeyValueStore | None = None,
        batch_size: int = 64,
        device: str | None = None,
    ) -> None:
        self.folder = Path(folder)
        if not (self.folder / "modules.json").is_file():
            raise ConfigError(
                f"{self.folder}: expected a sentence-transformers folder (modules.json); "
                "run the models stage first"
            )
        check_safetensors(self.folder, label="embedder")
        self.revision = folder_revision(self.folder)
        self.cache = cache
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self.hits = 0
        self.misses = 0

    @property
    def model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            # Local files and safetensors only (checked in __init__, enforced here).
            self._model = SentenceTransformer(
                str(self.folder),
                device=self.device,
                local_files_only=True,
                model_kwargs={"use_safetensors": True},
            )
            if self._model.device.type == "cpu":
                # Denormal arithmetic is very slow on this CPU class (DESIGN.md): ~1.5x.
                flush_denormals(self._model.device)
        return self._model

    def _prompt_kwargs(self, prompt_name: str | None) -> dict[str, str]:
        if prompt_name is None:
            return {}
        prompts = getattr(self.model, "prompts", {}) or {}
        # A folder without e5 prompts (a test embedder) embeds the raw text.
        return {"prompt_name": prompt_name} if prompt_name in prompts else {}

    def encode(self, texts: Sequence[str], *, prompt_name: str | None = "query") -> np.ndarray:
        """``(len(texts), dim)`` float32, L2-normalised. Duplicates are encoded once."""
        texts = [str(t) for t in texts]
        keys = [content_key(self.revision, prompt_name or "", t) for t in texts]
        found = self.cache.get_many(keys) if self.cache is not None else {}
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in found))
        self.hits += len(texts) - sum(1 for k in keys if k not in found)
        self.misses += len(missing)
        if missing:
            logger.info("embedding %d texts (%d cached)", len(missing), len(texts) - len(missing))
            vectors = self.model.encode(
                missing,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=len(missing) > 5 * self.batch_size,
                **self._prompt_kwargs(prompt_name),
            ).astype(np.float32)
            new = {
                content_key(self.revision, prompt_name or "", t): v.tobytes()
                for t, v in zip(missing, vectors, strict=True)
            }
            if self.cache is not None:
                self.cache.put_many(new)
            found = {**found, **new}
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([np.frombuffer(found[k], dtype=np.float32) for k in keys])

    @property
    def dimension(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())


def pair_similarity(embedder: Embedder, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
    """Cosine similarity of ``left[i]`` and ``right[i]`` for each i: shape ``(n,)``."""
    if len(left) != len(right):
        raise ValueError(f"pair_similarity: {len(left)} left texts but {len(right)} right texts")
    a = embedder.encode(left)
    b = embedder.encode(right)
    return np.einsum("ij,ij->i", a, b) if len(left) else np.zeros(0, dtype=np.float32)
