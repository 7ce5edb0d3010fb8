"""One benchmark scenario per process, so peak RSS is per scenario.

``python -m benchmarks.scenarios NAME CLIP PROMPTS WORKDIR`` prints one JSON line.
"""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import av


def decode(clip: Path, prompts: Path, work: Path) -> int:
    from editor.video.reader import iter_frames

    return sum(1 for _ in iter_frames(clip))


def transcode(clip: Path, prompts: Path, work: Path, codec: str = "libx264", pix_fmt: str = "yuv420p") -> int:
    """Plain PyAV transcode (decode → libx264 CRF 18 medium), the floor for the pipeline,
    encoded as the pipeline's writer encodes (:class:`editor.video.writer.VideoWriter`):
    ``thread_type`` AUTO (x264 frame threads, not PyAV's default slice threads) and, on an
    AVX-512 CPU, x264 limited to AVX2 (:func:`editor.video.writer.repeatable_x264`), so that a
    ratio to it measures the pipeline's work and not other encoder settings."""
    from editor.video.writer import repeatable_x264

    out = work / f"transcode-{codec}-{pix_fmt}.mp4"
    n = 0
    with av.open(str(clip)) as src, av.open(str(out), "w") as dst:
        vin = src.streams.video[0]
        vin.thread_type = "AUTO"
        vout = dst.add_stream(codec, rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt = vin.width, vin.height, pix_fmt
        cc = vout.codec_context
        cc.colorspace, cc.color_range = vin.codec_context.colorspace, vin.codec_context.color_range
        cc.color_primaries, cc.color_trc = vin.codec_context.color_primaries, vin.codec_context.color_trc
        options = {"crf": "18", "preset": "medium"} if codec == "libx264" else {"cq": "18", "preset": "p4"}
        repeatable_x264(codec, options)
        vout.codec_context.options = options
        vout.codec_context.thread_type = "AUTO"
        vout.time_base = vout.codec_context.time_base = vin.time_base
        for frame in src.decode(vin):
            # the encoder picks its own frame types, as for the pipeline's frames (and as the
            # ffmpeg command line does): FFmpeg's libx264 wrapper follows a frame's
            # ``pict_type``, and a decoded frame carries the source's
            frame.pict_type = av.video.frame.PictureType.NONE
            for p in vout.encode(frame):
                dst.mux(p)
            n += 1
        for p in vout.encode(None):
            dst.mux(p)
    return n


def track(clip: Path, prompts: Path, work: Path) -> int:
    from editor.pipeline.orchestrator import Pipeline, RunRequest
    from editor.api.prompts import load_prompts

    return Pipeline().track(RunRequest(input=clip, prompts=load_prompts(prompts), overwrite=True),
                            work / "masks").frames


def edit(preset_name: str, suffix: str = "", **options: object):  # noqa: ANN201
    """Decode + one preset's stages from precomputed masks + encode (needs ``track`` first).
    ``options``: set on every stage of the preset (e.g. ``workers=1``)."""

    def run(clip: Path, prompts: Path, work: Path) -> int:
        from dataclasses import replace

        from editor.pipeline.orchestrator import Pipeline, RunRequest
        from editor.pipeline.presets import load_preset

        preset = load_preset(preset_name)
        if options:
            preset = replace(preset, stages=tuple(replace(st, options={**st.options, **options})
                                                  for st in preset.stages))
        req = RunRequest(input=clip, output=work / f"{preset_name}{suffix}.mp4", preset=preset,
                         masks_dir=work / "masks", overwrite=True)
        return Pipeline().run(req).frames

    return run


def transcode_10bit(clip: Path, prompts: Path, work: Path) -> int:
    """The 10-bit floor: the 10-bit clip decoded and encoded at 10 bits (yuv420p10le) with the
    encoder and settings the pipeline's writer uses for it (libx264 High 10, CRF 18, medium)."""
    return transcode(clip, prompts, work, "libx264", "yuv420p10le")


def end_to_end(clip: Path, prompts: Path, work: Path, codec: str = "auto") -> int:
    """Full ``trackedit run --preset blur --prompts``: track + blur + encode."""
    from editor.pipeline.orchestrator import Pipeline, RunRequest
    from editor.pipeline.presets import load_preset
    from editor.api.prompts import load_prompts
    from editor.video.writer import EncodeOptions

    req = RunRequest(input=clip, output=work / f"e2e-{codec}.mp4", preset=load_preset("blur"),
                     prompts=load_prompts(prompts), overwrite=True, encode=EncodeOptions.resolve(codec))
    return Pipeline().run(req).frames


def people_background(clip: Path, prompts: Path, work: Path) -> int:
    """``trackedit run --preset background --detect people``: the person model on every frame,
    person objects tracked, the background replaced (no prompts, no masks)."""
    from editor.detection.options import DetectOptions
    from editor.pipeline.orchestrator import Pipeline, RunRequest
    from editor.pipeline.presets import load_preset

    req = RunRequest(input=clip, output=work / "people-background.mp4", preset=load_preset("background"),
                     detect=DetectOptions(detectors=("people",)), overwrite=True)
    return Pipeline().run(req).frames


def transcode_nvenc(clip: Path, prompts: Path, work: Path) -> int:
    """The GPU floor: the same transcode with h264_nvenc."""
    return transcode(clip, prompts, work, "h264_nvenc")


def end_to_end_nvenc(clip: Path, prompts: Path, work: Path) -> int:
    return end_to_end(clip, prompts, work, "nvenc")


EDIT_PRESETS = ("blur", "pixelate", "overlay", "background", "remove")
SCENARIOS = {"decode": decode, "transcode": transcode, "track": track,
             **{f"edit_{p}": edit(p) for p in EDIT_PRESETS}, "end_to_end": end_to_end,
             "edit_remove_1worker": edit("remove", "-1worker", workers=1),
             "transcode_nvenc": transcode_nvenc, "end_to_end_nvenc": end_to_end_nvenc,
             "transcode_10bit": transcode_10bit, "edit_blur_10bit": edit("blur", "-10bit"),
             "people_background": people_background}
GPU_SCENARIOS = ("transcode_nvenc", "end_to_end_nvenc")
"""Run only where an NVENC encoder opens; ratios against ``transcode_nvenc``."""
DEEP_SCENARIOS = ("transcode_10bit", "edit_blur_10bit")
"""Run on the 10-bit version of the clip (:func:`benchmarks.inputs.make_clip_10bit`); ratios
against ``transcode_10bit``; ``edit_blur_10bit`` uses the masks ``track`` made on the 8-bit clip."""
BASELINES = {"end_to_end_nvenc": "transcode_nvenc", "edit_blur_10bit": "transcode_10bit"}
"""The transcode each scenario's ratio is taken against (default ``transcode``)."""


def peak_rss_kib() -> int:
    """Peak resident set of this process (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _imports(name: str) -> float:
    """Import what the scenario runs before the clock starts, as ``av`` is for the transcodes,
    so both sides of a ratio time the work and not the interpreter's start (seconds taken)."""
    start = time.perf_counter()
    if name.startswith("transcode"):
        import editor.video.writer  # noqa: F401 - the writer's encoder settings (transcode)
    else:
        import editor.pipeline.orchestrator  # noqa: F401 - the pipeline, its plugins' modules
        import editor.pipeline.presets  # noqa: F401
        from editor.pipeline.plugin_manager import PluginManager

        PluginManager()  # loads every plugin module (entry points)
    return time.perf_counter() - start


def main() -> None:
    name, clip, prompts, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    work.mkdir(parents=True, exist_ok=True)
    import_seconds = _imports(name)
    start = time.perf_counter()
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    frames = SCENARIOS[name](clip, prompts, work)
    seconds = time.perf_counter() - start
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = (cpu.ru_utime - cpu_start.ru_utime) + (cpu.ru_stime - cpu_start.ru_stime)
    peak_kib = peak_rss_kib()
    print(json.dumps({"scenario": name, "frames": frames, "seconds": seconds, "cpu_seconds": cpu_seconds,
                      "import_seconds": import_seconds, "fps": frames / seconds, "peak_rss_mib": peak_kib / 1024}))


if __name__ == "__main__":
    main()
