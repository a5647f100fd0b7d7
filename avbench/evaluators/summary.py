"""Console lines for the quality figures, each with its grading (see evaluators.grading)."""

from __future__ import annotations

from avbench.evaluators.grading import GRADED, GRADING_TAG


def _suffix(tags: dict[str, str], metric: str) -> str:
    verdict = tags.get(f"{GRADING_TAG}{metric}", GRADED)
    return "" if verdict == GRADED else f"  · {verdict}"


def quality_lines(metrics: dict[str, float], tags: dict[str, str]) -> list[tuple[str, str]]:
    lines = []
    if "pitch_rmse_hz" in metrics and _suffix(tags, "pitch_rmse_hz"):
        lines.append(("pitch grading", f"pipeline pitch{_suffix(tags, 'pitch_rmse_hz')}"))
    for stem in ("vocals", "accompaniment"):
        key = f"quality.{stem}_si_sdr_db"
        if key in metrics:
            lines.append((f"{stem} SI-SDR", f"{metrics[key]:.2f} dB "
                          f"({metrics[f'quality.{stem}_si_sdr_improvement_db']:+.2f} dB over "
                          f"the mixture){_suffix(tags, key)}"))
    key = "quality.vocoder_resynthesis_logmel_db"
    if key in metrics:
        lines.append(("vocoder resynth", f"log-mel distance {metrics[key]:.2f} dB, STOI "
                      f"{metrics['quality.vocoder_resynthesis_stoi']:.3f}{_suffix(tags, key)}"))
    key = "quality.speaker_similarity"
    if key in metrics:
        source = metrics.get("quality.speaker_similarity_source")
        lines.append(("speaker", f"similarity to target {metrics[key]:.3f}"
                      + (f", to source {source:.3f}" if source is not None else "")
                      + _suffix(tags, key)))
    for label, prefix in (("DNSMOS output", "quality.dnsmos_"),
                          ("DNSMOS separated", "quality.separated_dnsmos_")):
        key = f"{prefix}ovrl"
        if key in metrics:
            lines.append((label, f"OVRL {metrics[key]:.2f}, SIG {metrics[prefix + 'sig']:.2f}, "
                          f"BAK {metrics[prefix + 'bak']:.2f}{_suffix(tags, key)}"))
    return lines
