#!/usr/bin/env python
"""Train the subject student: distil u2netp's salient-object maps into a small fast network.

    pip install -r training/requirements.txt      # torch (CPU), onnx, onnxruntime: training only
    python training/train_subject_student.py all --out /tmp/subject-train/student.onnx
    python training/train_subject_student.py check /tmp/subject-train/student.onnx

Stages (``all`` runs ``teacher`` then ``train``; each can run alone):

``teacher``
    For every photo of ``training/subject_photos.txt`` (its SHA-256 checked first): the photo
    (EXIF orientation applied, RGB, at most 1024 px long) and ``--crops`` random crops of it
    (area 35-100 %, aspect 0.5-2, drawn from a generator seeded by the photo's SHA-256), each
    run through the teacher, ``models/u2netp.onnx`` (verified by smartframe's model loader),
    at ``--teacher-side`` px long side with the aspect kept (sides multiples of 32), by
    onnxruntime on one thread. Stored per sample in ``--work`` (outside the repository: they are
    derived from the photos): the crop at 160 px long side (uint8) and the teacher's map
    (min-max normalised to 0..1) at half that size (float16).
``train``
    The student (``training/subject_student_net.py``) on those samples: horizontal flips,
    brightness/contrast/saturation jitter and 10 % greyscale drawn from one seeded generator,
    batches of one input size (bucketed by aspect), BCE + soft-IoU loss, AdamW with a one-cycle
    schedule. Deterministic: seeded torch and NumPy, ``torch.use_deterministic_algorithms``,
    one thread. Writes the ONNX (input ``rgb`` N x 3 x H x W in 0..1 with H and W symbolic;
    output ``subject`` at 1/4 of the input) and a JSON record beside it (the configuration,
    the digest of the data list, the loss per epoch, the ONNX's SHA-256).
``check``
    Compares an ONNX (a retrained student) with the shipped ``models/subject_student.onnx``:
    the SHA-256 first; when they differ, the two maps on a fixed set of synthetic probe images
    (``smartframe.scenes``) must agree within ``--tolerance`` (max absolute difference on the
    0..1 map). Exit code 0 when the checksum or the tolerance holds, 1 otherwise.

The defaults are the configuration that made the shipped student (see training/README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # smartframe from this checkout (the model loader, the scenes)
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(HERE))

PHOTO_LIST = HERE / "subject_photos.txt"
DEFAULT_WORK = Path(tempfile.gettempdir()) / "smartframe-subject-train"
#: Long side of the stored crops (the student's training inputs are resized from these).
SAMPLE_SIDE = 160
#: Photos are shrunk to this long side before cropping (the teacher never sees more).
PHOTO_SIDE = 1024
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


# --- data ------------------------------------------------------------------------------------

def read_photo_list(path: Path = PHOTO_LIST) -> list[tuple[str, str]]:
    """(path under --data, sha256) rows of the data list, comments skipped."""
    rows = []
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            rel, digest = line.split("\t")
            rows.append((rel, digest))
    return rows


def list_digest(rows: list[tuple[str, str]]) -> str:
    """SHA-256 over the photos' SHA-256s in list order: names the training data."""
    digest = hashlib.sha256()
    for _, sha in rows:
        digest.update(sha.encode())
    return digest.hexdigest()


def fit_side(image: np.ndarray, side: int, interpolation: int) -> np.ndarray:
    """``image`` resized so its longer side is ``side`` (aspect kept)."""
    height, width = image.shape[:2]
    scale = side / max(height, width)
    return cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                      interpolation=interpolation)


def read_photo(path: Path, expected_sha: str) -> np.ndarray:
    """The photo as upright RGB uint8, after checking its bytes are the listed ones."""
    from PIL import Image, ImageOps

    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != expected_sha:
        raise SystemExit(f"{path}: SHA-256 differs from training/subject_photos.txt; "
                         "this is not the photo the student was trained on")
    with Image.open(path) as image:
        rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    if max(rgb.shape[:2]) > PHOTO_SIDE:
        rgb = fit_side(rgb, PHOTO_SIDE, cv2.INTER_AREA)
    return rgb


def crop_boxes(width: int, height: int, sha: str, crops: int) -> list[tuple[int, int, int, int]]:
    """The whole photo, then ``crops`` random crops (x0, y0, x1, y1) seeded by the photo."""
    rng = np.random.default_rng(int(sha[:12], 16))
    boxes = [(0, 0, width, height)]
    for _ in range(crops):
        area = rng.uniform(0.35, 1.0) * width * height
        aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
        w = int(min(width, round(np.sqrt(area * aspect))))
        h = int(min(height, round(np.sqrt(area / aspect))))
        x = int(rng.integers(0, width - w + 1))
        y = int(rng.integers(0, height - h + 1))
        boxes.append((x, y, x + w, y + h))
    return boxes


# --- the teacher -----------------------------------------------------------------------------

class Teacher:
    """u2netp (the bundled, verified file) with a symbolic input size, on onnxruntime."""

    def __init__(self):
        import onnx
        import onnxruntime as ort
        from smartframe.analysis.model_files import resolve
        from smartframe.analysis.subject import TEACHER_MODEL

        model = onnx.load(str(resolve(TEACHER_MODEL, REPO / "models")))
        # The export fixes 1x3x320x320, but the graph is fully convolutional: make H and W
        # symbolic, and keep only output 0 (the fused map; the others are side outputs).
        for value in [model.graph.input[0], *model.graph.output]:
            dims = value.type.tensor_type.shape.dim
            for index, name in ((2, "H"), (3, "W")):
                dims[index].ClearField("dim_value")
                dims[index].dim_param = name
        del model.graph.output[1:]
        del model.graph.value_info[:]
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(model.SerializeToString(), options,
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def map(self, rgb: np.ndarray, side: int) -> np.ndarray:
        """The teacher's map of ``rgb``, min-max normalised to 0..1, float32, at the input size
        (long side ``side``, both sides multiples of 32; preprocessing as rembg does it)."""
        height, width = rgb.shape[:2]
        scale = side / max(height, width)
        w = max(32, int(round(width * scale / 32)) * 32)
        h = max(32, int(round(height * scale / 32)) * 32)
        small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        small /= max(float(small.max()), 1e-6)
        tensor = np.ascontiguousarray(((small - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)[None])
        out = self.session.run(None, {self.input_name: tensor})[0][0, 0]
        low, high = float(out.min()), float(out.max())
        return ((out - low) / (high - low + 1e-8)).astype(np.float32)


def teacher_dir(work: Path, side: int, crops: int) -> Path:
    return work / f"teacher_s{side}_c{crops}"


_TEACHER: Teacher | None = None


def _teacher_one(job: tuple[str, str, str, str, int, int]) -> str:
    """Make the samples of one photo (run in a worker process)."""
    global _TEACHER
    data, rel, sha, out_dir, side, crops = job
    out = Path(out_dir) / f"{sha[:16]}.npz"
    if out.exists():
        return rel
    if _TEACHER is None:
        cv2.setNumThreads(1)
        _TEACHER = Teacher()
    rgb = read_photo(Path(data) / rel, sha)
    height, width = rgb.shape[:2]
    images, maps = [], []
    boxes = crop_boxes(width, height, sha, crops)
    for x0, y0, x1, y1 in boxes:
        crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        target = _TEACHER.map(crop, side)
        small = fit_side(crop, SAMPLE_SIDE, cv2.INTER_AREA)
        images.append(small)
        maps.append(cv2.resize(target, (max(1, small.shape[1] // 2), max(1, small.shape[0] // 2)),
                               interpolation=cv2.INTER_AREA).astype(np.float16))
    temporary = out.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez_compressed(temporary, boxes=np.array(boxes), **{f"img{k}": a for k, a in enumerate(images)},
                        **{f"map{k}": a for k, a in enumerate(maps)})
    os.replace(temporary, out)
    return rel


def run_teacher(args) -> Path:
    from multiprocessing import get_context

    rows = read_photo_list()
    out_dir = teacher_dir(args.work, args.teacher_side, args.crops)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(str(args.data), rel, sha, str(out_dir), args.teacher_side, args.crops) for rel, sha in rows]
    started = time.time()
    with get_context("spawn").Pool(args.jobs) as pool:
        for index, _ in enumerate(pool.imap(_teacher_one, jobs, chunksize=4)):
            if index % 100 == 0:
                print(f"teacher: {index}/{len(jobs)} photos, {time.time() - started:.0f} s", flush=True)
    print(f"teacher: {len(jobs)} photos -> {out_dir} ({time.time() - started:.0f} s)", flush=True)
    return out_dir


# --- the student -----------------------------------------------------------------------------

def input_dims(height: int, width: int, side: int) -> tuple[int, int]:
    """Student input (h, w): long side about ``side``, both multiples of 16 (as the runtime)."""
    scale = side / max(height, width)
    return max(16, int(round(height * scale / 16)) * 16), max(16, int(round(width * scale / 16)) * 16)


def run_train(args) -> Path:
    import torch
    import torch.nn.functional as F
    from subject_student_net import SubjectStudent

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # one thread: the float sums happen in one order on every run
    torch.use_deterministic_algorithms(True)
    cv2.setNumThreads(1)
    rows = read_photo_list()
    source = teacher_dir(args.work, args.teacher_side, args.crops)
    images, maps = [], []
    for _, sha in rows:
        with np.load(source / f"{sha[:16]}.npz") as samples:
            for k in range(sum(1 for name in samples.files if name.startswith("img"))):
                images.append(samples[f"img{k}"])
                maps.append(samples[f"map{k}"].astype(np.float32))
    print(f"train: {len(rows)} photos, {len(images)} samples from {source}", flush=True)
    rng = np.random.default_rng(args.seed)

    def sample(index: int) -> tuple[np.ndarray, np.ndarray]:
        image, target = images[index], maps[index]
        h, w = input_dims(*image.shape[:2], args.side)
        x = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        # INTER_AREA can overshoot 1 by ~1e-7, which BCE refuses.
        y = np.clip(cv2.resize(target, (w // 4, h // 4), interpolation=cv2.INTER_AREA), 0.0, 1.0)
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        if rng.random() < 0.1:
            x = np.repeat(x.mean(2, keepdims=True), 3, 2)
        mean = x.mean()
        x = (x - mean) * rng.uniform(0.7, 1.3) + mean * rng.uniform(0.7, 1.3)
        grey = x.mean(2, keepdims=True)
        x = grey + (x - grey) * rng.uniform(0.6, 1.4)
        return np.clip(x, 0, 1).transpose(2, 0, 1), y

    widths = tuple(int(v) for v in args.widths.split(","))
    model = SubjectStudent(widths, args.arch)
    parameters = sum(p.numel() for p in model.parameters())
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * (len(images) // args.batch + 20)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    started, step, history = time.time(), 0, []
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(images))
        by_size: dict[tuple[int, int], list[int]] = {}
        for index in order:  # one input size per batch, the samples in this epoch's order
            by_size.setdefault(input_dims(*images[index].shape[:2], args.side), []).append(int(index))
        batches = [group[j:j + args.batch] for group in by_size.values()
                   for j in range(0, len(group), args.batch)]
        losses = []
        for batch_index in rng.permutation(len(batches)):
            batch = batches[batch_index]
            if len(batch) < 4:
                continue
            xs, ys = zip(*(sample(i) for i in batch))
            x = torch.from_numpy(np.ascontiguousarray(np.stack(xs)))
            y = torch.from_numpy(np.ascontiguousarray(np.stack(ys)))[:, None]
            p = model(x)
            bce = F.binary_cross_entropy(p.clamp(1e-6, 1 - 1e-6), y)
            intersection = (p * y).sum((1, 2, 3))
            union = (p + y - p * y).sum((1, 2, 3))
            loss = bce + (1 - intersection / union.clamp(min=1e-6)).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if step < steps - 1:
                schedule.step()
            step += 1
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
        print(f"train: epoch {epoch} loss {history[-1]:.4f} ({time.time() - started:.0f} s)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    torch.save(model.state_dict(), args.out.with_suffix(".pt"))
    onnx_sha, difference = export_checked(model, args.out, "subject")
    record = {name: (str(value) if isinstance(value, Path) else value) for name, value in vars(args).items()
              if name not in ("func",)}
    record.update(parameters=parameters, photos=len(rows), samples=len(images),
                  data_list_sha256=list_digest(rows), loss_per_epoch=history,
                  onnx_sha256=onnx_sha, cv2_dnn_max_difference=difference,
                  seconds=round(time.time() - started, 1),
                  versions={"torch": torch.__version__, "numpy": np.__version__, "opencv": cv2.__version__})
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"train: {parameters} parameters -> {args.out} (SHA-256 {onnx_sha})", flush=True)
    return args.out


def export_checked(model, path: Path, output: str) -> tuple[str, float]:
    """Export a trained student (in eval mode) to ONNX at ``path``: opset 17, input ``rgb``
    N x 3 x H x W and the one output named ``output``, both with free spatial sizes. The export
    must run in OpenCV's cv2.dnn (smartframe's runtime) as it runs in torch: within 1e-4 on a
    seeded probe, else SystemExit. Returns the file's SHA-256 and the largest difference. Both
    recipes (subject and fixation) export through here."""
    import torch

    torch.onnx.export(model, torch.zeros(1, 3, 96, 128), str(path), input_names=["rgb"],
                      output_names=[output], opset_version=17, dynamo=False,
                      dynamic_axes={"rgb": {2: "H", 3: "W"}, output: {2: "h", 3: "w"}})
    probe = torch.rand(1, 3, 112, 160, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(probe).numpy()
    net = cv2.dnn.readNetFromONNX(str(path))
    net.setInput(probe.numpy())
    difference = float(np.abs(net.forward() - expected).max())
    if difference > 1e-4:
        raise SystemExit(f"the exported ONNX differs from torch by {difference:.2e} in cv2.dnn")
    return hashlib.sha256(path.read_bytes()).hexdigest(), difference


# --- check -----------------------------------------------------------------------------------

def probe_images() -> list[np.ndarray]:
    """Synthetic probe images (smartframe.scenes, seeded): what ``check`` compares maps on."""
    from smartframe import scenes

    images = [scenes.landscape_with_subject(480, 320, subject_x=0.3)[0],
              scenes.landscape_with_subject(320, 480, subject_x=0.7)[0],
              scenes.landscape_with_subject(640, 256, subject_x=0.5)[0]]
    rng = np.random.default_rng(0)
    images.append(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8))
    return images


def student_input(rgb: np.ndarray, side: int = 160) -> np.ndarray:
    """A student's input for an RGB uint8 image: area-resized to :func:`input_dims` (``side`` on
    the longer side), 0..1, float32 1 x 3 x H x W. The recipes' validation, check and the
    two-head stages all feed their networks this way."""
    h, w = input_dims(*rgb.shape[:2], side)
    x = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def student_map(path: Path, rgb: np.ndarray, side: int = 160) -> np.ndarray:
    net = cv2.dnn.readNetFromONNX(str(path))
    net.setInput(student_input(rgb, side))
    return net.forward()[0, 0]


def run_check(args) -> int:
    """``check``: the model against ``--against`` (the shipped file): the SHA-256 first, then the
    largest map difference on the probe images, within ``--tolerance``. 0 on PASS, 1 on FAIL.
    The fixation recipe's ``check`` is this one."""
    new_sha = hashlib.sha256(args.model.read_bytes()).hexdigest()
    old_sha = hashlib.sha256(args.against.read_bytes()).hexdigest()
    print(f"check: {args.model} SHA-256 {new_sha}\n       {args.against} SHA-256 {old_sha}")
    if new_sha == old_sha:
        print("check: PASS, bit-for-bit the shipped file")
        return 0
    worst = max(float(np.abs(student_map(args.model, image) - student_map(args.against, image)).max())
                for image in probe_images())
    status = "PASS" if worst <= args.tolerance else "FAIL"
    print(f"check: {status}, checksums differ; max |map difference| on the probe images {worst:.4f} "
          f"(tolerance {args.tolerance})")
    return 0 if status == "PASS" else 1


def main(argv: list[str] | None = None) -> int:
    import _images

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="stage", required=True)
    for name in ("teacher", "train", "all"):
        stage = sub.add_parser(name)
        stage.add_argument("--data", type=Path, default=_images.default_data())
        stage.add_argument("--work", type=Path, default=DEFAULT_WORK, help="teacher samples (outside the repo)")
        stage.add_argument("--out", type=Path, default=DEFAULT_WORK / "subject_student.onnx")
        stage.add_argument("--teacher-side", type=int, default=160, help="teacher input, long side px")
        stage.add_argument("--crops", type=int, default=2, help="random crops per photo (+ the whole photo)")
        stage.add_argument("--jobs", type=int, default=1, help="teacher worker processes")
        stage.add_argument("--side", type=int, default=160, help="student input, long side px")
        stage.add_argument("--arch", choices=["ds", "conv"], default="ds")
        stage.add_argument("--widths", default="32,64,96,128")
        stage.add_argument("--epochs", type=int, default=30)
        stage.add_argument("--batch", type=int, default=32)
        stage.add_argument("--lr", type=float, default=3e-3)
        stage.add_argument("--seed", type=int, default=0)
    check = sub.add_parser("check")
    check.add_argument("model", type=Path)
    check.add_argument("--against", type=Path, default=REPO / "models" / "subject_student.onnx")
    check.add_argument("--tolerance", type=float, default=0.02)
    args = parser.parse_args(argv)
    if args.stage == "check":
        return run_check(args)
    if args.data is None and args.stage != "train":
        parser.error("--data DIR is required (../shared/data was not found)")
    if args.stage in ("teacher", "all"):
        run_teacher(args)
    if args.stage in ("train", "all"):
        run_train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
