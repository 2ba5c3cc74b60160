"""Separation through the platform against calling demucs's apply_model directly, on the
same 60 s track and the same model, in the same run (CPU, a random-weight model of the
htdemucs architecture and size, saved and loaded like the real one). Also the realtime
factor (audio seconds per wall second) of that model and of the classical method.
Target: platform ÷ direct ≤ 1.10.

    .venv/bin/python -m bench.separation_vs_apply_model [--seconds 60] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import soundfile as sf
import torch
from demucs.apply import apply_model
from demucs.pretrained import get_model

from bench.common import open_ws, running_platform, save, submit_and_wait, upload
from cadenza.devstack.demucs_models import save_bag, save_checkpoint
from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_noise

STEMS = ["drums", "bass", "other", "vocals"]


def direct(model_dir: Path, source: Path, out_dir: Path) -> float:
    """What a script using demucs's API does: load, normalise, apply_model, write stems."""
    started = time.perf_counter()
    model = get_model("htdemucs", repo=model_dir)
    audio, rate = sf.read(str(source), dtype="float32", always_2d=True)
    mix = torch.from_numpy(audio.T.copy())
    ref = mix.mean(0)
    mean, std = ref.mean(), ref.std()
    with torch.inference_mode():
        stems = apply_model(model, ((mix - mean) / std)[None], shifts=0, split=True, overlap=0.25)[
            0
        ]
    stems = stems * std + mean
    for name, stem in zip(model.sources, stems, strict=True):
        sf.write(str(out_dir / f"{name}.wav"), stem.numpy().T, rate, subtype="PCM_24")
    return time.perf_counter() - started


async def through_platform(platform: Platform, upload_id: str, model: str) -> tuple[float, Any]:
    async with httpx.AsyncClient(base_url=platform.url, timeout=3600) as client:
        ws = await open_ws(platform)
        try:
            body = {
                "kind": "separation",
                "input": {"upload_id": upload_id},
                "params": {"model": model, "stems": STEMS},
            }
            return await submit_and_wait(client, ws, body)
        finally:
            await ws.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp:
        root = Path(tmp)
        models = root / "data" / "models"
        save_checkpoint(models, "955717e8", size="full")
        save_bag(models, "htdemucs", ["955717e8"])
        source = write_noise(root / "track.wav", args.seconds)
        direct_s: list[float] = []
        platform_s: list[float] = []
        with running_platform(root, RESULT_CACHE="false") as platform:
            with httpx.Client(base_url=platform.url) as api:
                upload_id = upload(api, source)["id"]
            asyncio.run(through_platform(platform, upload_id, "htdemucs"))  # loads the model
            for _ in range(args.repeat):  # alternate, so machine noise hits both
                direct_s.append(direct(models, source, root))
                platform_s.append(asyncio.run(through_platform(platform, upload_id, "htdemucs"))[0])
            classical_s, _ = asyncio.run(through_platform(platform, upload_id, "classical"))
    direct_median, platform_median = statistics.median(direct_s), statistics.median(platform_s)
    save(
        "separation_vs_apply_model",
        {
            "track_seconds": args.seconds,
            "model": "htdemucs architecture (42 M parameters, random weights), CPU",
            "direct_apply_model_s": [round(v, 2) for v in direct_s],
            "platform_s": [round(v, 2) for v in platform_s],
            "ratio_platform_over_direct": round(platform_median / direct_median, 3),
            "target_ratio": 1.10,
            "realtime_factor_htdemucs_platform": round(args.seconds / platform_median, 3),
            "realtime_factor_htdemucs_direct": round(args.seconds / direct_median, 3),
            "realtime_factor_classical_platform": round(args.seconds / classical_s, 2),
            "torch_threads": torch.get_num_threads(),
        },
    )


if __name__ == "__main__":
    main()
