"""The typed config of every `dancenow <command>`: one dataclass per section, each key with its default, its rule
and a line that says what it means (what `dancenow <command> --help` prints).

Hydra composes these dataclasses with the presets and variants of this folder, so a value of the wrong type is
refused while composing; `check` then applies each key's rule (a range, a set of choices) to the composed values,
before any work starts and before any Slurm job is submitted.
"""

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING

from ..io.h5 import COMPRESSION, COMPRESSION_HELP
from ..synth.body import PERFORMERS

AMP = ("auto", "bf16", "off")
AMP_HELP = "auto: bfloat16 autocast on GPUs that support it | bf16 | off (CPU is always float32)"


def key(default, help, **rule):
    """A config key: its default, its one-line meaning, and its rule (ge, gt, le, lt, choices, even)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **rule})
    return field(default=default, metadata={"help": help, **rule})


def section(cls, help):
    """A nested section (a dataclass) with its meaning."""
    return field(default_factory=cls, metadata={"help": help})


@dataclass
class PresetSize:
    height: int = key(256, "frame height of the preset (tiny 128, quick 256, paper 512)", ge=8, even=True)
    width: int = key(256, "frame width of the preset (tiny 128, quick 256, paper 1024)", ge=8, even=True)


@dataclass
class Synth:
    performer: str = key("dancer", "one of the three procedural people with different bodies and clothes",
                         choices=tuple(PERFORMERS))
    output: str = key(MISSING, "the mp4 to write")
    seconds: float = key(12.0, "length of the routine", gt=0)
    fps: float = key(15.0, "frame rate", gt=0)
    height: int = key(480, "frame height", ge=64, even=True)
    width: int = key(854, "frame width (16:9 by default, as phones film)", ge=64, even=True)
    audio: bool = key(True, "a procedural beat track at the routine's tempo")


@dataclass
class Extract:
    input: str = key(MISSING, "any video OpenCV reads")
    output: str = key(MISSING, "frames.h5 to write")
    audio: str = key(MISSING, "sidecar .m4a to write (zero bytes when the video has no sound)")
    height: int = key("${preset_size.height}", "height of the stored frames", ge=8, even=True)
    width: int = key("${preset_size.width}", "width of the stored frames", ge=8, even=True)
    fit: str = key("person", "person: the region the person moves in over the whole video (found by a quick pose "
                             "pass), fixed for the video | pad: letterbox the whole frame | crop: center crop",
                   choices=("person", "pad", "crop"))
    compression: str = key("blosc-lz4", "frames.h5: " + COMPRESSION_HELP, choices=COMPRESSION)
    max_frames: Optional[int] = key(None, "keep only the first N frames (null = all)", ge=1)


@dataclass
class Pose:
    input: str = key(MISSING, "frames.h5")
    output: str = key(MISSING, "poses.h5 to write")
    backend: str = key("mediapipe", "mediapipe: body, face and hands on CPU | openpose: the CMU body network, "
                                    "batched on GPUs", choices=("mediapipe", "openpose"))
    model_complexity: int = key(1, "mediapipe: 1 is the model mediapipe ships offline", ge=0, le=2)
    openpose_weights: Optional[str] = key(None, "openpose: path to the converted weights body_pose_model.pth "
                                                "(184 tensors)")
    scales: List[float] = key([1.0], "openpose: image scales searched (x box_size px height), averaged; "
                                     "[0.5,1.0,1.5,2.0] is OpenPose's accurate setting", gt=0)
    box_size: int = key(368, "openpose: network input height at scale 1", ge=8)
    batch_size: int = key(8, "openpose: frames per forward pass", ge=1)
    amp: str = key("auto", "openpose: " + AMP_HELP, choices=AMP)
    min_detection_confidence: float = key(0.5, "mediapipe's detection threshold", ge=0, le=1)
    min_tracking_confidence: float = key(0.5, "mediapipe's tracking threshold", ge=0, le=1)
    chunk_frames: int = key(256, "the tracker restarts every N frames: shards on chunk boundaries equal one pass",
                            ge=1)
    shards: Optional[int] = key(None, "parts the frames are split into; null = one per task of the job", ge=1)
    max_gap: int = key(10, "frames without a person shorter than this are interpolated", ge=0)
    min_detected_fraction: float = key(0.2, "fewer frames with a person than this fails the stage", ge=0, le=1)


@dataclass
class Normalize:
    source: str = key(MISSING, "source poses.h5")
    target: str = key(MISSING, "target poses.h5")
    output: str = key(MISSING, "normalized source poses.h5 in the target's frame, to write")
    plot: str = key(MISSING, "diagnostic PNG to write")
    min_confidence: float = key(0.3, "keypoints below this confidence are not used to measure ankles and heights",
                                ge=0, le=1)
    ankle_percentile: float = key(5.0, "far ankle position = this percentile of ankle y, close = (100 - this)",
                                  ge=0, lt=50)
    close_tolerance: float = key(0.05, "frames whose ankle is within this fraction of the ankle range of an extreme "
                                       "count for its height", ge=0, le=1)
    height_percentile: float = key(90.0, "body height at an extreme: this percentile of the heights of those frames",
                                   ge=0, le=100)
    min_depth_range: float = key(0.05, "ankle range below this fraction of body height = stays at one depth: one "
                                       "scale, one shift", ge=0)
    align_x: bool = key(True, "also move the source's mean horizontal position onto the target's")
    smooth_sigma: float = key(1.0, "Gaussian temporal smoothing of keypoints, in frames; 0 = off", ge=0)


@dataclass
class Check:
    source: str = key(MISSING, "normalized source poses.h5 (the dance the target will perform)")
    frames: str = key(MISSING, "the target's frames.h5 (its video's facts)")
    poses: str = key(MISSING, "the target's poses.h5")
    output: str = key(MISSING, "coverage.json to write")
    plot: str = key(MISSING, "PNG of the coverage over the source's timeline, to write")
    holdout: float = key("${train.holdout}", "the last fraction of the target's frames, not trained on", ge=0, lt=1)
    threshold: float = key(0.5, "a source pose farther than this from every target training pose is not covered: "
                                "the largest keypoint distance, in torso lengths", gt=0)
    min_coverage: float = key(0.9, "warn (check.strict: fail) when fewer of the source's frames are covered",
                              ge=0, le=1)
    strict: bool = key(False, "fail instead of warning, so that the workflow stops before training")


@dataclass
class Face:
    enabled: bool = key(True, "EDN's face GAN: a residual generator on the face crop, trained after the main one")
    iterations: int = key(500, "of the face phase", ge=0)
    crop: int = key(64, "side of the square face crop, in pixels of the stored frames (EDN: 128 at 512 px height)",
                    ge=8)
    ngf: int = key(32, "filters of the face generator's first layer", ge=1)
    n_downsample: int = key(3, "downsamplings of the face generator", ge=0)
    n_blocks: int = key(5, "residual blocks of the face generator", ge=0)
    ndf: int = key(64, "filters of the face discriminator's first layer", ge=1)
    n_layers_d: int = key(3, "layers of the face discriminator", ge=1)
    num_d: int = key(1, "scales of the face discriminator", ge=1)
    lambda_feat: float = key(10.0, "weight of the face discriminator's feature matching loss", ge=0)


@dataclass
class Train:
    frames: str = key(MISSING, "target frames.h5")
    poses: str = key(MISSING, "target poses.h5")
    output: str = key(MISSING, "final checkpoint (.pt) to write")
    workdir: str = key(MISSING, "resumable checkpoints, cached label maps and TensorBoard logs")
    holdout: float = key(0.0, "the last fraction of the frames is not trained on (`dancenow evaluate` renders it)",
                         ge=0, lt=1)
    iterations: int = key(1000, "of the main phase (the full-size generator)", ge=0)
    batch_size: int = key(1, "samples per step and rank", ge=1)
    lr: float = key(0.0002, "Adam's learning rate of every network, for steps of one sample (see lr_scaling)", ge=0)
    lr_scaling: str = key("none", "the learning rate of a step of B = batch_size x ranks samples: none = lr (at "
                                  "the quick preset's rate batch 4 kept batch 1's held-out quality for the same "
                                  "samples, README) | sqrt = lr x sqrt(B) (Adam's square-root rule)",
                          choices=("none", "sqrt"))
    lr_decay: float = key(0.0, "the last fraction of each phase's iterations, over which the learning rate falls "
                               "linearly towards 0 (pix2pixHD's niter_decay; its default schedule is 0.5); 0 = "
                               "constant", ge=0, le=1)
    beta1: float = key(0.5, "Adam's beta1", ge=0)
    temporal: bool = key(True, "EDN temporal smoothing: G(x_t, G(x_t-1)) and a discriminator of consecutive pairs")
    ngf: int = key(64, "filters of the full-size network's first layer (the global generator has "
                       "ngf * 2**n_local_enhancers)", ge=1)
    n_downsample: int = key(4, "downsamplings of the global generator", ge=0)
    n_blocks: int = key(9, "residual blocks of the global generator", ge=0)
    background: str = key("composite", "none | plate: the generator also sees the target's static background (a "
                                  "temporal median of its training frames without the person); a background that "
                                  "is not static is detected and trained without (one log line) | composite: "
                                  "as plate, and the generator paints a mask: its person over the plate",
                          choices=("none", "plate", "composite"))
    limb_width: float = key(0.0, "label maps: 0 = OpenPose's line widths (about 1/100 of the body's size); > 0 = "
                                 "the body's lines that fraction of its size thick, like limbs (e.g. 0.06)",
                            ge=0, lt=0.5)
    upsample: str = key("resize", "the generators' upsampling: transpose (pix2pixHD's transposed convolutions) | "
                                     "resize (nearest x2 + conv: no checkerboard)", choices=("transpose", "resize"))
    n_local_enhancers: int = key(0, "pix2pixHD local enhancers; > 0 = coarse-to-fine training", ge=0)
    n_blocks_local: int = key(3, "residual blocks of each local enhancer", ge=0)
    global_iterations: int = key(0, "with local enhancers: iterations of the global generator alone at the coarse "
                                    "size first", ge=0)
    fix_global_iterations: int = key(0, "with local enhancers: the first N main iterations train the local "
                                        "enhancers only", ge=0)
    ndf: int = key(64, "filters of the discriminators' first layer", ge=1)
    n_layers_d: int = key(3, "layers of each discriminator", ge=1)
    num_d: int = key(2, "scales of the multi-scale discriminator", ge=1)
    lambda_feat: float = key(10.0, "weight of the feature matching loss", ge=0)
    lambda_vgg: float = key(10.0, "weight of the VGG-19 perceptual loss", ge=0)
    vgg_weights: Optional[str] = key(None, "path to torchvision's vgg19 state dict (vgg19-dcbb9e9d.pth); null = no "
                                           "perceptual loss")
    amp: str = key("auto", AMP_HELP, choices=AMP)
    deterministic: bool = key(False, "GPUs: true = deterministic kernels (cuDNN without autotuning: a rerun gives the "
                                     "same weights, slower) | false = cuDNN's autotuned fastest kernels (a rerun "
                                     "differs in the last bits). The CPU is always exact")
    channels_last: Optional[bool] = key(None, "networks and batches in channels-last memory format; null = on GPUs "
                                              "(cuDNN's faster convolution layout), off on CPUs (measured 0.81x there)")
    compile: bool = key(False, "torch.compile every network of the training step (inductor's fused kernels; "
                               "compiling takes minutes at the start of each phase): for GPUs, measure it with "
                               "benchmarks/train_paper.py first (on a CPU a quick step measured 1.10x slower)")
    face: Face = section(Face, "EDN's face GAN")
    checkpoint_every: int = key(200, "iterations between resumable checkpoints (workdir/latest.pt)", ge=1)
    sample_every: int = key(200, "iterations between sample images in TensorBoard", ge=1)
    log_every: int = key(10, "iterations between log lines and loss curve points", ge=1)
    num_workers: int = key(0, "DataLoader worker processes", ge=0)
    data_on_device: Optional[bool] = key(None, "the training frames and label maps copied to the device once "
                                               "(uint8) and every batch drawn there, no per-sample work on the host; "
                                               "null = on a GPU when they take at most a quarter of its memory, "
                                               "else (and on CPUs) read per batch by a DataLoader")


@dataclass
class Render:
    poses: str = key(MISSING, "normalized source poses.h5")
    checkpoint: str = key(MISSING, "generator checkpoint of `dancenow train`")
    output: str = key(MISSING, "generated.h5 to write")
    video: str = key(MISSING, "mp4 to write")
    audio: Optional[str] = key(None, "sidecar audio to mux (the source's); null = silent")
    batch_size: int = key(4, "frames per forward pass (a temporally smoothed generator renders one after the other)",
                          ge=1)
    amp: str = key("auto", AMP_HELP, choices=AMP)
    crf: int = key(18, "H.264 quality (0 = lossless, 51 = worst)", ge=0, le=51)
    compression: str = key("blosc-lz4", "generated.h5: " + COMPRESSION_HELP, choices=COMPRESSION)


@dataclass
class Evaluate:
    frames: str = key(MISSING, "target frames.h5")
    poses: str = key(MISSING, "target poses.h5: the held-out frames are rendered from their own poses")
    checkpoint: str = key(MISSING, "a generator trained with train.holdout > 0")
    output: str = key(MISSING, "metrics.json to write")
    plot: str = key(MISSING, "PNG to write: per-frame metrics and training loss curves")
    video: str = key(MISSING, "mp4 to write: real | generated, the held-out frames")
    lpips_weights: Optional[str] = key(None, "LPIPS v0.1 linear layers (vgg.pth of richzhang/PerceptualSimilarity); "
                                             "null = no LPIPS")
    lpips_backbone: Optional[str] = key(None, "torchvision's vgg16 state dict (vgg16-397923af.pth), needed with "
                                              "lpips_weights")
    amp: str = key("auto", AMP_HELP, choices=AMP)
    crf: int = key(18, "H.264 quality of the video", ge=0, le=51)


@dataclass
class Compare:
    metrics: List[str] = key(MISSING, "metrics.json files of `dancenow evaluate`: compare.metrics=[a.json,b.json]")
    names: List[str] = key(MISSING, "a name for each (a row of the table)")
    output: str = key(MISSING, "HTML table to write (for `snakemake --report`)")
    csv: str = key(MISSING, "the same table as CSV, to write")


@dataclass
class Grid:
    source_frames: Optional[str] = key(MISSING, "source frames.h5; null = no source column (pose | targets: a dance "
                                                "without a video)")
    source_poses: str = key(MISSING, "source poses.h5 (without source_frames: its fps and canvas)")
    targets: List[str] = key(MISSING, "generated.h5 of every target")
    names: List[str] = key(MISSING, "their names, for captions")
    audio: Optional[str] = key(None, "audio to mux; null = silent")
    output: str = key(MISSING, "grid mp4 to write")
    tile_height: int = key("${preset_size.height}", "height of each tile's picture (its caption above it)", ge=16,
                           even=True)
    columns: int = key(0, "tiles per row; 0 = auto: 2x2 for source, pose and two targets, else the layout nearest "
                          "16:9", ge=0)
    crf: int = key(20, "H.264 quality", ge=0, le=51)


@dataclass
class Export:
    poses: str = key(MISSING, "poses.h5 to export (normalized source poses, a made-up dance)")
    output: str = key(MISSING, "folder to write: one OpenPose JSON file per frame")
    name: str = key("frame", "file name prefix: <name>_<frame, 12 digits>_keypoints.json")
    video: str = key(MISSING, "pose video to write (mp4): the skeletons on black at the poses' canvas")
    audio: Optional[str] = key(None, "audio to mux into the pose video; null = silent")
    crf: int = key(18, "H.264 quality", ge=0, le=51)


@dataclass
class Choreo:
    bvh: List[str] = key([], "BVH motion capture files (e.g. the CMU salsa clips), front view: choreo.bvh=[a,b]")
    poses: List[str] = key([], "poses.h5 files of videos (BODY_25 body, their own fps); at least one source in all")
    fps: float = key(30.0, "every source is resampled to this frame rate; the network learns and dances at it", gt=0)
    output_fps: Optional[float] = key(None, "the frame rate the dance is written at (every target renders a frame "
                                            "of it per frame); null = the first poses file's (the source video's, "
                                            "as its transfer is rendered), choreo.fps if every source is BVH", gt=0)
    output: str = key(MISSING, "poses.h5 of the new dance, to write")
    video: str = key(MISSING, "stick-figure mp4 of it, to write")
    metrics: str = key(MISSING, "metrics.json to write: motion energy, freezing, bone lengths, novelty, training loss")
    model: str = key(MISSING, "trained network (.pt); reused when trained with the same settings, seed and sources")
    height: int = key("${preset_size.height}", "canvas height of the output poses", ge=8)
    width: int = key("${preset_size.width}", "canvas width of the output poses", ge=8)
    seconds: float = key(60.0, "length of the dance", gt=0)
    temperature: float = key(1.0, "noise (training std) on what the network reads back of its own output: the dance "
                                  "stays smooth but leaves the exact replay of training windows; 0 = deterministic",
                             ge=0)
    seed_frames: int = key(30, "real frames (a window of the training data chosen by the seed) the network reads "
                               "first", ge=1)
    auto_condition: bool = key(True, "acLSTM training (own outputs fed back 5 of every 10 frames); false = teacher "
                                     "forcing")
    hidden: int = key(256, "units per LSTM layer", ge=1)
    layers: int = key(3, "LSTM layers", ge=1)
    window: int = key(100, "frames per training window", ge=1)
    batch_size: int = key(32, "windows per step", ge=1)
    iterations: int = key(3000, "training steps", ge=1)
    lr: float = key(0.001, "Adam's learning rate", gt=0)
    select_every: int = key(200, "every this many iterations the network free-runs select_seconds from 4 real "
                                 "windows; the best is kept (0: only the last is checked)", ge=0)
    select_seconds: float = key(60.0, "length of those free runs", gt=0)


@dataclass
class Slurm:
    partition: Optional[str] = key(None, "null = the cluster's default partition")
    account: Optional[str] = key(None, "the account jobs are charged to")
    qos: Optional[str] = key(None, "quality of service")
    constraint: Optional[str] = key(None, "node features, e.g. a100")
    setup: List[str] = key([], "shell lines run in the job before the stage, e.g. [\"module load cuda/12.4\"]")
    additional: Dict[str, Any] = key({}, "any other sbatch option, e.g. {exclude: \"node[01-02]\"}")
    folder: str = key(".submitit", "job scripts, results and logs: one folder per command, relative to the working "
                                   "directory")
    signal_delay_s: int = key(120, "Slurm warns a job this long before its time limit: train saves a checkpoint "
                                   "and is requeued", ge=0)
    max_num_timeout: int = key(20, "how many times a train job that hit its time limit is requeued", ge=0)
    poll_s: float = key(60.0, "how often a waiting command asks sacct about its job", gt=0)


@dataclass
class StageResources:
    """What a stage's Slurm job asks for; the workflow's rules declare the same as Snakemake resources."""
    nodes: int = key(1, "nodes of the job", ge=1)
    tasks_per_node: int = key(1, "tasks (ranks) per node; train: one per GPU", ge=1)
    gpus_per_node: int = key(0, "GPUs per node", ge=0)
    cpus_per_task: int = key(1, "CPUs of each task (its threads)", ge=1)
    mem_mb: int = key(4096, "memory per node, in MB", ge=1)
    runtime: int = key(60, "time limit, in minutes", ge=1)


def resources(**kw):
    return field(default_factory=lambda: StageResources(**kw), metadata={"help": "its Slurm job"})


@dataclass
class Resources:
    synth: StageResources = resources(mem_mb=4096, runtime=60)
    extract: StageResources = resources(cpus_per_task=2, mem_mb=8192, runtime=120)
    pose: StageResources = resources(gpus_per_node=1, cpus_per_task=4, mem_mb=16384, runtime=240)
    normalize: StageResources = resources(mem_mb=4096, runtime=30)
    check: StageResources = resources(mem_mb=4096, runtime=30)
    train: StageResources = resources(gpus_per_node=1, cpus_per_task=8, mem_mb=32768, runtime=1440)
    render: StageResources = resources(cpus_per_task=4, mem_mb=16384, runtime=120)
    grid: StageResources = resources(cpus_per_task=2, mem_mb=8192, runtime=60)
    export: StageResources = resources(mem_mb=4096, runtime=60)
    evaluate: StageResources = resources(gpus_per_node=1, cpus_per_task=4, mem_mb=16384, runtime=120)
    compare: StageResources = resources(mem_mb=2048, runtime=10)
    choreo: StageResources = resources(cpus_per_task=2, mem_mb=8192, runtime=240)


@dataclass
class Config:
    seed: int = key(0, "random seed")
    threads: int = key(0, "torch/OpenCV CPU threads; 0 = all cores (in a Slurm job: resources.<stage>.cpus_per_task)",
                       ge=0)
    launcher: str = key("local", "local: the stage runs in this process | slurm: as a Slurm job (submitit); this "
                                 "process waits", choices=("local", "slurm"))
    preset_size: PresetSize = section(PresetSize, "the preset's frame size")
    synth: Synth = section(Synth, "a procedural performer dancing to a procedural beat, the demo's input")
    extract: Extract = section(Extract, "a video -> frames.h5 + its audio")
    pose: Pose = section(Pose, "frames.h5 -> poses.h5")
    normalize: Normalize = section(Normalize, "the source's poses in the target's frame")
    train: Train = section(Train, "EDN's generator of one target person")
    check: Check = section(Check, "before training: the target video's facts and its coverage of the source's poses")
    render: Render = section(Render, "poses + generator -> generated.h5 and an mp4")
    evaluate: Evaluate = section(Evaluate, "the held-out frames: SSIM, PSNR, pose distance, flicker")
    compare: Compare = section(Compare, "metrics.json files as one table")
    grid: Grid = section(Grid, "source, pose and every target as a grid of captioned tiles")
    export: Export = section(Export, "poses -> OpenPose JSON per frame and a pose video")
    choreo: Choreo = section(Choreo, "a new dance from pose sequences")
    slurm: Slurm = section(Slurm, "launcher=slurm: the cluster")
    resources: Resources = section(Resources, "launcher=slurm: what each stage's job asks for")


# ---- rules ------------------------------------------------------------------------------------------------------

def fields(cls):
    """(name, type, metadata, is a section) of a dataclass's keys."""
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name], f.metadata, dataclasses.is_dataclass(hints[f.name]))
            for f in dataclasses.fields(cls)]


def schema_of(path):
    """(type, metadata) of the key at a dotted path, or None."""
    cls, meta = Config, {}
    for part in path.split("."):
        if not dataclasses.is_dataclass(cls):
            return None
        match = [(t, m) for name, t, m, _ in fields(cls) if name == part]
        if not match:
            return None
        cls, meta = match[0]
    return cls, meta


def describe(tp, meta):
    """What a value of the key must be, in words: 'an integer >= 0', 'one of pad, crop', 'a list of numbers > 0'."""
    optional = typing.get_origin(tp) is typing.Union and type(None) in typing.get_args(tp)
    if optional:
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if typing.get_origin(tp) in (list, List):
        item = typing.get_args(tp)[0]
        text = {int: "a list of integers", float: "a list of numbers", str: "a list ([a,b])"}.get(item, "a list")
    elif typing.get_origin(tp) in (dict, Dict):
        text = "a mapping ({key: value})"
    else:
        text = words.get(tp, "a value")
    if "choices" in meta:
        text = "one of " + ", ".join(map(str, meta["choices"]))
    bounds = [f"{op} {meta[k]}" for k, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")) if k in meta]
    if bounds:
        text += " " + " and ".join(bounds)
    if meta.get("even"):
        text += ", even"
    return text + (" or null" if optional else "")


def breaks_rule(value, meta):
    """Whether a (resolved, typed) value breaks its key's rule."""
    if value is None:
        return False
    if isinstance(value, list):
        return any(breaks_rule(v, meta) for v in value)
    if "choices" in meta and value not in meta["choices"]:
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value:  # nan
            return True
        limits = (("ge", lambda a, b: a >= b), ("gt", lambda a, b: a > b), ("le", lambda a, b: a <= b),
                  ("lt", lambda a, b: a < b))
        if not all(ok(value, meta[k]) for k, ok in limits if k in meta):
            return True
        if meta.get("even") and value % 2:
            return True
    return False


def violations(values, cls=Config, prefix=""):
    """[(dotted key, its value, what it must be)] of the keys of `values` (a plain dict of the composed, resolved
    config; '???' for values still missing) that break their rules."""
    out = []
    for name, tp, meta, is_section in fields(cls):
        value = values.get(name, "???")
        path = prefix + name
        if is_section:
            out += violations(value, tp, path + ".")
        elif value != "???" and breaks_rule(value, meta):
            out.append((path, value, describe(tp, meta)))
    return out
