"""Long inputs in pieces: the spans, Spleeter-style segments, and overlapped vocoder chunks
that equal the whole call."""

from __future__ import annotations

import pytest
import torch

from avbench.models.vocoder import HiFiGANGenerator, hifigan_config
from avbench.pipelines.pieces import in_segments, overlapped, spans


@pytest.mark.parametrize(("total", "longest", "multiple"),
                         [(1292, 512, 64), (2585, 512, 1), (513, 512, 1), (2000, 7, 1),
                          (862, 430, 1), (100, 100, 1)])
def test_spans_cover_once_with_few_sizes_none_tiny(total: int, longest: int,
                                                   multiple: int) -> None:
    cuts = spans(total, longest, multiple)
    covered = [i for a, b in cuts for i in range(a, b)]
    assert covered == list(range(total))
    sizes = [b - a for a, b in cuts]
    assert max(sizes) <= longest
    assert len(cuts) == -(-total // longest)
    assert all(size % multiple == 0 for size in sizes[:-1])
    assert min(sizes) >= min(total, longest // 2)  # no short tail


def test_spans_whole_when_off_or_short() -> None:
    assert spans(50, 0) == [(0, 50)]
    assert spans(50, 64) == [(0, 50)]


def test_spans_refuse_a_longest_off_the_multiple() -> None:
    with pytest.raises(ValueError, match="not a multiple of 64"):
        spans(300, 100, 64)


def test_segments_call_each_segment_alone() -> None:
    seen: list[int] = []

    def component(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.shape[-1])
        assert x.is_contiguous()
        return x * 2

    x = torch.arange(2 * 3 * 300, dtype=torch.float32).reshape(2, 3, 300)
    out = in_segments(component, x, 128, multiple=64)
    assert torch.equal(out, x * 2)
    assert seen == [128, 128, 44]
    seen.clear()
    assert torch.equal(in_segments(component, x, 0), x * 2) and seen == [300]


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_receptive_radius_bounds_the_generator(version: str) -> None:
    """No mel frame further than the radius from a frame moves that frame's samples, and the
    bound is within two frames of the true reach (gradients through leaky ReLUs never
    vanish, so a nonzero gradient marks every frame the output depends on)."""
    config = hifigan_config(version)
    torch.manual_seed(0)
    generator = HiFiGANGenerator(config, n_mels=8).eval()
    mel = torch.randn(1, 8, 41, requires_grad=True)
    centre = 20
    hop = config.hop_length
    generator(mel)[0, 0, centre * hop:(centre + 1) * hop].sum().backward()
    reached = (mel.grad.abs().sum(dim=1)[0] > 0).nonzero().flatten()
    reach = max(centre - int(reached.min()), int(reached.max()) - centre)
    assert reach <= config.receptive_radius <= reach + 2


def test_overlapped_vocoder_equals_the_whole_call() -> None:
    config = hifigan_config("v3")
    torch.manual_seed(1)
    generator = HiFiGANGenerator(config, n_mels=8).eval()
    mel = torch.randn(1, 8, 70)
    with torch.inference_mode():
        whole = generator(mel)
        pieces = overlapped(generator, mel, 16, config.receptive_radius, config.hop_length)
        short = overlapped(generator, mel, 16, 0, config.hop_length)
    assert pieces.shape == whole.shape
    torch.testing.assert_close(pieces, whole, rtol=0, atol=1e-5)
    # Without context the seams show: the check above can fail.
    assert (short - whole).abs().max() > 1e-3
