"""``make weights`` (``python -m avbench.models.fetch_all [CACHE_DIR]``): fetch, verify and
convert every pinned weight file once, so later runs work offline.

The registry of weight files (``models.pretrained.WEIGHTS``) knows no model; this module
sits above the model modules and asks each to load its weights.
"""

from __future__ import annotations

import os
import sys

from avbench.models import fcpe, hifigan_pretrained, spleeter
from avbench.models.dnsmos import DNSMOS
from avbench.models.speaker_encoder import VoiceEmbedder
from avbench.runtime import resolve_cache_dir


def fetch_all(cache_dir: str | os.PathLike[str]) -> list[str]:
    """Fetch, verify and convert every pinned weight file (``make weights``); their tags."""
    return [spleeter.load_pretrained(spleeter.SpleeterSeparator(), cache_dir),
            hifigan_pretrained.load_pretrained(
                hifigan_pretrained.HiFiGANGenerator(hifigan_pretrained.hifigan_config("v1")),
                cache_dir),
            fcpe.load_pretrained(fcpe.FCPE(), cache_dir),
            VoiceEmbedder(cache_dir).tag, DNSMOS(cache_dir).tag]


if __name__ == "__main__":
    for tag in fetch_all(resolve_cache_dir(sys.argv[1] if len(sys.argv) > 1 else None)):
        print(tag)
