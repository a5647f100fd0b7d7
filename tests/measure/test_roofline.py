"""The roofline's arithmetic: FLOPs of modules with exact formulas, the point's figures, peaks
cached atomically."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from avbench.measure import roofline


def test_flops_of_a_linear_and_a_conv1d_follow_their_formulas() -> None:
    linear = torch.nn.Linear(64, 32)
    assert roofline.count_flops(linear, (torch.randn(8, 64),)) == 2 * 8 * 64 * 32
    conv = torch.nn.Conv1d(4, 6, kernel_size=3, padding=1)
    # 2 x batch x out_channels x out_length x in_channels x kernel (bias not counted)
    assert roofline.count_flops(conv, (torch.randn(2, 4, 10),)) == 2 * 2 * 6 * 10 * 4 * 3
    stacked = torch.nn.Sequential(conv, torch.nn.LeakyReLU(), torch.nn.Conv1d(6, 6, 1))
    assert roofline.count_flops(stacked, (torch.randn(2, 4, 10),)) == (
        2 * 2 * 6 * 10 * 4 * 3 + 2 * 2 * 6 * 10 * 6)


def test_a_point_under_the_roof() -> None:
    linear = torch.nn.Linear(64, 32, bias=False)
    inputs = (torch.randn(8, 64),)
    flops = 2 * 8 * 64 * 32
    point = roofline.component_point(linear, inputs, ms_per_call=1.0, peak_gflops=100.0,
                                     bandwidth_gbs=10.0)
    weights, activations = 64 * 32 * 4, (8 * 64 + 8 * 32) * 4
    assert (point.flops, point.weight_bytes, point.activation_bytes) == (flops, weights,
                                                                         activations)
    assert point.intensity == pytest.approx(flops / (weights + activations))
    assert point.achieved_gflops == pytest.approx(flops / 1e-3 / 1e9)
    # memory-bound here: the roof is intensity x bandwidth, below the peak
    assert point.roof_gflops == pytest.approx(point.intensity * 10.0)
    assert point.pct_of_peak == pytest.approx(100 * point.achieved_gflops / 100.0)
    int8 = roofline.component_point(linear, inputs, 1.0, 100.0, 10.0, weight_bytes=64 * 32)
    assert int8.intensity > point.intensity


def test_peaks_round_trip_through_an_atomic_file(tmp_path: Path) -> None:
    peaks = roofline.Peaks({"fp32": {"torch": 10.0, "openvino": 12.0}, "bf16": {}, "int8": {}},
                           triad_gbs=5.0, threads=2, cpu="test", measured_at=0.0)
    path = roofline.peaks_path(tmp_path, 2)
    roofline.save_peaks(peaks, path)
    loaded = roofline.load_peaks(path)
    assert loaded == peaks and loaded.peak("fp32") == 12.0 and loaded.peak("bf16") is None
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    assert roofline.load_peaks(tmp_path / "missing.json") is None


def test_measured_peaks_are_positive_on_small_sizes() -> None:
    assert roofline.torch_gemm_gflops(torch.float32, n=64, min_time_s=0.01) > 0
    assert roofline.triad_gbs(elements=1 << 16, min_time_s=0.01) > 0


def test_flops_are_counted_without_computing() -> None:
    """The count runs on the meta device: the same FLOPs and output shape as a real call,
    with no data computed."""
    conv = torch.nn.Conv1d(4, 8, 3)
    x = torch.randn(1, 4, 10)
    flops, output = roofline.counted_call(conv, (x,))
    assert flops == 2 * 8 * 4 * 3 * 8  # 2 x out channels x in channels x kernel x out length
    assert output.device.type == "meta" and output.shape == conv(x).shape
