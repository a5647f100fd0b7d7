"""TTS inputs: built-in corpora of the public-domain Harvard sentences, and user text files.

The Harvard sentences (IEEE Recommended Practice for Speech Quality Measurements,
1969) are phonetically balanced and short; the ``harvard`` corpus joins 1, 2 and 4
of them so its utterances vary in length (36 to 165 characters).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from avbench.errors import UserError

if TYPE_CHECKING:
    import torch

HARVARD = (  # lists 1 and 2
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
)


class TextInputError(UserError, ValueError):
    """A TTS input that cannot be used (empty, not text, too long)."""


def corpus(name: str) -> list[str]:
    """The utterances of a built-in corpus: ``harvard`` (varied lengths) or ``short``."""
    if name == "short":
        return list(HARVARD[:3])
    if name == "harvard":
        texts: list[str] = []
        start = 0
        for group in (1, 2, 1, 4, 2, 1, 4, 1, 2, 2):
            texts.append(" ".join(HARVARD[start % 20 + i] for i in range(group)))
            start += group
        return texts
    raise TextInputError(f"unknown text corpus {name!r}; valid: harvard, short "
                         "(or set text.path= to a UTF-8 file, one utterance per line)")


def read_texts(path: str | Path) -> list[str]:
    """Non-blank lines of a UTF-8 text file, stripped; one utterance per line."""
    path = Path(path)
    if not path.is_file():
        raise TextInputError(f"text.path={path}: no such file")
    raw = path.read_bytes()
    if b"\0" in raw:
        raise TextInputError(f"text.path={path} is a binary file; give a UTF-8 text file "
                             "with one utterance per line")
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TextInputError(f"text.path={path} is not UTF-8 text (byte {error.start}); give a "
                             "UTF-8 text file with one utterance per line") from None
    texts = [line.strip() for line in content.splitlines() if line.strip()]
    if not texts:
        raise TextInputError(f"text.path={path} has no text; give one utterance per line")
    return texts


def load_texts(name: str, path: str | None, max_chars: int) -> list[str]:
    """The run's utterances, each checked against the model's limit of ``max_chars``."""
    texts = read_texts(path) if path else corpus(name)
    for number, text in enumerate(texts, 1):
        if len(text) > max_chars:
            where = f"line {number} of {path}" if path else f"utterance {number}"
            raise TextInputError(f"{where} has {len(text)} characters, over the model's limit "
                                 f"of {max_chars} (pipeline.max_chars); split it into shorter "
                                 "lines")
    return texts


def encode_text(text: str) -> torch.Tensor:
    """``text`` as a uint8 tensor of its UTF-8 bytes: how a text travels through
    ``Pipeline.run`` (the same path, hashing and caching as audio)."""
    import torch

    return torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8)


def decode_text(data: torch.Tensor) -> str:
    return bytes(data.detach().cpu().numpy().tobytes()).decode("utf-8")
