#!/usr/bin/env python
"""Train the fixation student: a small network that predicts where people look in a photo.

    pip install -r training/requirements.txt scipy    # torch (CPU), onnx, scipy: training only
    python training/train_fixation_student.py all --mit DIR --mit-maps DIR --osie DIR --crowd DIR \
        --out /tmp/fixation-train/fixation_student.onnx
    python training/train_fixation_student.py check /tmp/fixation-train/fixation_student.onnx

The data are three public eye-tracking sets, read from plain checkouts of their repositories at
the commits of ``training/make_fixation_list.py`` (``--mit`` ... ``--crowd``: their roots), every
file checked against ``training/fixation_photos.txt`` first. Stages (``all`` runs ``prepare``
then ``train``):

``prepare``
    For every listed stimulus: the photo (RGB) at :data:`STORE_SIDE` px on its longer side
    (uint8) and its fixation density on the same grid (float16, peak 1): MIT1003's own density
    maps (area-resized), or for OSIE and EyeCrowd every viewer's fixation points (all of them,
    first included) blurred by a Gaussian of :data:`SIGMA_SHARE` x the longer side (about one
    degree of visual angle in both set-ups, the usual size). Stored in ``--work`` (outside the
    repository: they are derived from the photos). With ``--val-folder DIR`` it also writes the
    validation photos and full-size density maps (8-bit) in ``benchmarks/quality.py``'s fixation
    layout, ``DIR/fixation_val/{stimuli,fixation_maps}``, so the framing gain on them is one
    ``quality.py --data DIR`` run.
``train``
    The student (``training/subject_student_net.py``'s network, the subject student's shape,
    started from the shipped subject student's weights with its first two stages frozen) on the
    ``train`` photos: horizontal flips, random crops (half the time, 65-100 % of the area),
    brightness/contrast/saturation jitter and 10 % greyscale from one seeded generator; input
    :data:`INPUT_SIDE` px on the longer side (multiples of 16), target at 1/4; loss KL divergence
    + (1 - linear correlation), the two usual saliency losses, between the maps normalised to
    sum 1; AdamW with a one-cycle schedule. Deterministic: seeded torch and NumPy,
    ``torch.use_deterministic_algorithms``, a fixed number of threads (``--threads``, 1). Then the ``val`` photos: CC and KL of
    the student, and of a centre Gaussian for reference. Writes the ONNX (input ``rgb`` N x 3 x
    H x W in 0..1, H and W symbolic; output ``fixation`` at 1/4) and a JSON record beside it.
    With ``--freeze e1,e2,e3,e4,context --two-head OUT`` only the decoder is trained and also
    grafted onto the subject student as one two-output ONNX (``training/two_head.py``).
``check``
    Compares an ONNX with the shipped ``models/fixation_student.onnx``: the SHA-256 first, then
    the maps on synthetic probe images within ``--tolerance``.
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
sys.path.insert(0, str(HERE))
import make_fixation_list as listing  # noqa: E402 -- the sources and the split
import train_subject_student as subject_recipe  # noqa: E402 -- shared helpers (input sizes, probes)

DATA_LIST = HERE / "fixation_photos.txt"
DEFAULT_WORK = Path(tempfile.gettempdir()) / "smartframe-fixation-train"
#: Longer side of the stored photos and densities (crops are taken from these).
STORE_SIDE = 192
#: The student's input, longer side.
INPUT_SIDE = 160
#: Gaussian std of a fixation point, as a share of the photo's longer side (about 1 degree).
SIGMA_SHARE = 0.03
#: The layers frozen for the two-head variant: the subject student's whole encoder (to 1/16) and
#: its context branch, so only the decoder is trained (``training/two_head.py``).
TWO_HEAD_FREEZE = "e1,e2,e3,e4,context"


# --- data ------------------------------------------------------------------------------------

def read_list(path: Path = DATA_LIST) -> list[tuple[str, str, str, str]]:
    """(set, path, sha256, role) rows of the data list, comments skipped."""
    return [tuple(line.split("\t")) for line in path.read_text().splitlines()
            if line and not line.startswith("#")]


def list_digest(rows) -> str:
    """SHA-256 over the files' SHA-256s in list order: names the training data."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(row[2].encode())
    return digest.hexdigest()


def checked_bytes(path: Path, expected: str) -> bytes:
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != expected:
        raise SystemExit(f"{path}: SHA-256 differs from training/fixation_photos.txt")
    return data


def decode_rgb(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(image[..., ::-1])


def load_points(path: Path) -> dict[str, np.ndarray]:
    """Image file name -> (n, 2) fixation points (x, y) in pixels, every viewer's, 0-based."""
    from scipy.io import loadmat

    table = loadmat(str(path))["fixations"]
    points = {}
    for k in range(table.shape[0]):
        entry = table[k, 0]
        name = str(entry["img"][0, 0][0]) if entry["img"].dtype == object else str(entry["img"].flat[0])
        xs, ys = [], []
        for viewer in entry["subjects"][0, 0].ravel():
            xs.append(np.asarray(viewer["fix_x"][0, 0], np.float64).ravel())
            ys.append(np.asarray(viewer["fix_y"][0, 0], np.float64).ravel())
        # MATLAB's coordinates are 1-based pixel positions.
        points[name] = np.stack([np.concatenate(xs) - 1.0, np.concatenate(ys) - 1.0], axis=1)
    return points


def density_from_points(points: np.ndarray, width: int, height: int, out_w: int, out_h: int) -> np.ndarray:
    """The fixation density (float32, peak 1) on an ``out_w`` x ``out_h`` grid over a photo of
    ``width`` x ``height`` px: each point a Gaussian of SIGMA_SHARE x the photo's longer side."""
    grid = np.zeros((out_h, out_w), np.float64)
    xs = np.floor(points[:, 0] * out_w / width).astype(int)
    ys = np.floor(points[:, 1] * out_h / height).astype(int)
    keep = (xs >= 0) & (xs < out_w) & (ys >= 0) & (ys < out_h)
    np.add.at(grid, (ys[keep], xs[keep]), 1.0)
    sigma = SIGMA_SHARE * max(out_w, out_h)
    grid = cv2.GaussianBlur(grid, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    peak = grid.max()
    return (grid / peak if peak > 0 else grid).astype(np.float32)


def photo_density(row, roots: dict[str, Path], points: dict[str, dict[str, np.ndarray]], maps: dict[str, tuple],
                  side: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(photo RGB uint8, density float32 peak 1) of one stimulus row, at ``side`` px on the
    longer side (None: full size)."""
    set_name, rel, sha, _ = row
    rgb = decode_rgb(checked_bytes(roots[set_name] / rel, sha))
    height, width = rgb.shape[:2]
    if side is not None:
        rgb = subject_recipe.fit_side(rgb, side, cv2.INTER_AREA)
    out_h, out_w = rgb.shape[:2]
    name = Path(rel).name
    if set_name == "mit":
        map_rel, map_sha = maps[name]
        grey = cv2.imdecode(np.frombuffer(checked_bytes(roots["mit-maps"] / map_rel, map_sha), np.uint8),
                            cv2.IMREAD_GRAYSCALE)
        if grey.shape != (height, width):
            raise SystemExit(f"{map_rel}: map {grey.shape} is not the stimulus's {(height, width)}")
        density = cv2.resize(grey.astype(np.float32), (out_w, out_h), interpolation=cv2.INTER_AREA)
        density /= max(float(density.max()), 1e-6)
    else:
        density = density_from_points(points[set_name][name], width, height, out_w, out_h)
    return rgb, density


def sources(rows, roots):
    """The points files (checked) and MIT1003's stimulus -> map rows."""
    points, maps, last = {}, {}, None
    for row in rows:
        set_name, rel, sha, role = row
        if role == "points":
            checked_bytes(roots[set_name] / rel, sha)
            points[set_name] = load_points(roots[set_name] / rel)
        elif role == "map":
            maps[Path(last[1]).name] = (rel, sha)
        last = row
    return points, maps


def run_prepare(args) -> None:
    rows = read_list()
    roots = {"mit": args.mit, "mit-maps": args.mit_maps, "osie": args.osie, "crowd": args.crowd}
    points, maps = sources(rows, roots)
    stimuli = [row for row in rows if row[3] in ("train", "val")]
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    store = {"train": ([], [], []), "val": ([], [], [])}
    for index, row in enumerate(stimuli):
        rgb, density = photo_density(row, roots, points, maps, STORE_SIDE)
        images, densities, names = store[row[3]]
        images.append(rgb)
        densities.append(density.astype(np.float16))
        names.append(f"{row[0]}/{Path(row[1]).stem}")
        if args.val_folder is not None and row[3] == "val":
            full_rgb, full = photo_density(row, roots, points, maps, None)
            out = args.val_folder / "fixation_val"
            (out / "stimuli").mkdir(parents=True, exist_ok=True)
            (out / "fixation_maps").mkdir(parents=True, exist_ok=True)
            stem = f"{row[0]}_{Path(row[1]).stem}"
            cv2.imwrite(str(out / "stimuli" / f"{stem}.png"), full_rgb[..., ::-1])
            cv2.imwrite(str(out / "fixation_maps" / f"{stem}.png"), np.round(full * 255).astype(np.uint8))
        if index % 200 == 0:
            print(f"prepare: {index}/{len(stimuli)} ({time.time() - started:.0f} s)", flush=True)
    for role, (images, densities, names) in store.items():
        np.savez(args.work / f"{role}.npz", names=np.array(names),
                 **{f"img{k}": a for k, a in enumerate(images)}, **{f"map{k}": a for k, a in enumerate(densities)})
    print(f"prepare: {len(store['train'][0])} train, {len(store['val'][0])} val -> {args.work}", flush=True)


def load_samples(work: Path, role: str) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    with np.load(work / f"{role}.npz") as data:
        names = [str(n) for n in data["names"]]
        images = [data[f"img{k}"] for k in range(len(names))]
        maps = [data[f"map{k}"].astype(np.float32) for k in range(len(names))]
    return images, maps, names


# --- the student -----------------------------------------------------------------------------

def losses(p, y):
    """(KL divergence of p from y, linear correlation) per sample, both maps normalised to sum 1."""
    import torch

    eps = 1e-7
    p = p.flatten(1)
    y = y.flatten(1)
    p = p / (p.sum(1, keepdim=True) + eps)
    y = y / (y.sum(1, keepdim=True) + eps)
    kl = (y * torch.log(eps + y / (p + eps))).sum(1)
    pc, yc = p - p.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    cc = (pc * yc).sum(1) / (torch.sqrt((pc * pc).sum(1) * (yc * yc).sum(1)) + eps)
    return kl, cc


def centre_map(h: int, w: int) -> np.ndarray:
    """A centre Gaussian (std 0.25 of each side): the usual centre-bias reference."""
    rows = (np.arange(h) + 0.5) / h - 0.5
    cols = (np.arange(w) + 0.5) / w - 0.5
    return np.exp(-0.5 * (rows[:, None] ** 2 + cols[None, :] ** 2) / 0.25 ** 2).astype(np.float32)


def init_from_subject_student(model, path: Path, calibration) -> int:
    """Start from the shipped subject student's weights (``path``, its ONNX: each convolution
    with its batch norm folded in), so the fixation student begins with features that already
    find objects. Each batch norm is set so that the network computes exactly the subject
    student's function, with statistics measured on ``calibration`` (a batch of inputs): mean m
    and std s of the folded convolution's output, then running stats (m, s^2), weight s and
    bias (folded bias + m). Returns the number of tensors loaded."""
    import onnx
    import torch
    from onnx import numpy_helper

    weights = {init.name: torch.from_numpy(numpy_helper.to_array(init).copy())
               for init in onnx.load(str(path)).graph.initializer}
    folded = [weights[name] for name in weights if name.startswith("onnx::")]
    pairs = list(zip(folded[0::2], folded[1::2]))
    convs = [(m, bn) for seq in model.modules() if isinstance(seq, torch.nn.Sequential) and len(seq) == 3
             and isinstance(seq[0], torch.nn.Conv2d) and isinstance(seq[1], torch.nn.BatchNorm2d)
             for m, bn in [(seq[0], seq[1])]]
    if len(convs) != len(pairs) or any(c.weight.shape != w.shape for (c, _), (w, _) in zip(convs, pairs)):
        raise SystemExit(f"{path}: its convolutions do not match the network's")
    state = model.state_dict()
    for name in ("context.0.weight", "context.0.bias", "head.weight", "head.bias"):
        state[name].copy_(weights[name])
    model.load_state_dict(state)
    stats = {}
    with torch.no_grad():
        for (conv, bn), (weight, bias) in zip(convs, pairs):
            conv.weight.copy_(weight)
            bn.running_mean.zero_(), bn.running_var.fill_(1.0 - bn.eps), bn.weight.fill_(1.0), bn.bias.copy_(bias)
        hooks = [conv.register_forward_hook(lambda mod, inp, out, key=id(conv): stats.__setitem__(
                 key, (out.mean((0, 2, 3)), out.std((0, 2, 3)) + 1e-3))) for conv, _ in convs]
        model.eval()
        model(calibration)
        for hook in hooks:
            hook.remove()
        for (conv, bn), (_, bias) in zip(convs, pairs):
            mean, std = stats[id(conv)]
            bn.running_mean.copy_(mean), bn.running_var.copy_(std * std - bn.eps)
            bn.weight.copy_(std), bn.bias.copy_(bias + mean)
    return len(weights)


def run_train(args) -> Path:
    import torch
    from subject_student_net import SubjectStudent

    torch.manual_seed(args.seed)
    # A fixed thread count: the float sums happen in the same order on every run with it.
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    cv2.setNumThreads(1)
    rows = read_list()
    images, maps, _ = load_samples(args.work, "train")
    print(f"train: {len(images)} photos from {args.work}", flush=True)
    rng = np.random.default_rng(args.seed)

    def sample(index: int, size: tuple[int, int]):
        image, target = images[index], maps[index]
        h, w = size
        height, width = image.shape[:2]
        if rng.random() < 0.5:  # a crop of 65-100 % of the area, the photo's aspect
            share = np.sqrt(rng.uniform(0.65, 1.0))
            cw, ch = max(8, round(width * share)), max(8, round(height * share))
            x0, y0 = int(rng.integers(0, width - cw + 1)), int(rng.integers(0, height - ch + 1))
            image, target = image[y0:y0 + ch, x0:x0 + cw], target[y0:y0 + ch, x0:x0 + cw]
        x = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        y = cv2.resize(target, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        if rng.random() < 0.1:
            x = np.repeat(x.mean(2, keepdims=True), 3, 2)
        mean = x.mean()
        x = (x - mean) * rng.uniform(0.7, 1.3) + mean * rng.uniform(0.7, 1.3)
        grey = x.mean(2, keepdims=True)
        x = grey + (x - grey) * rng.uniform(0.6, 1.4)
        return np.clip(x, 0, 1).transpose(2, 0, 1), np.maximum(y, 0)

    widths = tuple(int(v) for v in args.widths.split(","))
    model = SubjectStudent(widths, args.arch)
    parameters = sum(p.numel() for p in model.parameters())
    if args.init == "subject":
        h, w = subject_recipe.input_dims(*images[0].shape[:2], args.side)
        size_group = [i for i, image in enumerate(images)
                      if subject_recipe.input_dims(*image.shape[:2], args.side) == (h, w)][:64]
        calibration = np.stack([cv2.resize(images[i], (w, h), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)
                                for i in size_group]).astype(np.float32) / 255.0
        loaded = init_from_subject_student(model, REPO / "models" / "subject_student.onnx",
                                           torch.from_numpy(calibration))
        print(f"train: started from the subject student ({loaded} tensors)", flush=True)
    frozen = [getattr(model, name) for name in args.freeze.split(",") if name]
    for module in frozen:  # the subject student's first layers, kept as they are (and cheap: no backward)
        module.requires_grad_(False)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr,
                                  weight_decay=1e-4)
    steps = args.epochs * (len(images) // args.batch + 20)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    sizes = [subject_recipe.input_dims(*image.shape[:2], args.side) for image in images]
    started, step, history = time.time(), 0, []
    for epoch in range(args.epochs):
        model.train()
        for module in frozen:
            module.eval()  # their batch norms keep the subject student's statistics
        by_size: dict[tuple[int, int], list[int]] = {}
        for index in rng.permutation(len(images)):  # one input size per batch
            by_size.setdefault(sizes[index], []).append(int(index))
        batches = [group[j:j + args.batch] for group in by_size.values()
                   for j in range(0, len(group), args.batch)]
        epoch_losses = []
        for batch_index in rng.permutation(len(batches)):
            batch = batches[batch_index]
            if len(batch) < 4:
                continue
            size = sizes[batch[0]]
            xs, ys = zip(*(sample(i, size) for i in batch))
            x = torch.from_numpy(np.ascontiguousarray(np.stack(xs)))
            y = torch.from_numpy(np.ascontiguousarray(np.stack(ys)))[:, None]
            kl, cc = losses(model(x), y)
            loss = (kl + (1.0 - cc)).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if step < steps - 1:
                schedule.step()
            step += 1
            epoch_losses.append(loss.item())
        history.append(float(np.mean(epoch_losses)))
        print(f"train: epoch {epoch} loss {history[-1]:.4f} ({time.time() - started:.0f} s)", flush=True)
    model.eval()
    validation = evaluate(model, args)
    print(f"train: validation {validation}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out.with_suffix(".pt"))
    onnx_sha, difference = subject_recipe.export_checked(model, args.out, "fixation")
    record = {name: (str(value) if isinstance(value, Path) else value) for name, value in vars(args).items()}
    record.update(parameters=parameters, photos=len(images), data_list_sha256=list_digest(rows),
                  loss_per_epoch=history, validation=validation, onnx_sha256=onnx_sha,
                  cv2_dnn_max_difference=difference, seconds=round(time.time() - started, 1),
                  versions={"torch": torch.__version__, "numpy": np.__version__, "opencv": cv2.__version__})
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"train: {parameters} parameters -> {args.out} (SHA-256 {onnx_sha})", flush=True)
    if args.two_head is not None:  # the decoder grafted onto the subject student: one net, two outputs
        import two_head

        two_head.combine(REPO / "models" / "subject_student.onnx", args.out, args.two_head)
    return args.out


def evaluate(model, args) -> dict:
    """Mean CC and KL on the validation photos (at the target grid), student and centre map."""
    import torch

    images, maps, _ = load_samples(args.work, "val")
    scores = {"student": ([], []), "centre": ([], [])}
    with torch.no_grad():
        for image, target in zip(images, maps):
            tensor = subject_recipe.student_input(image, args.side)
            h, w = tensor.shape[2:]
            y = torch.from_numpy(cv2.resize(target, (w // 4, h // 4), interpolation=cv2.INTER_AREA))[None, None]
            predicted = model(torch.from_numpy(tensor))
            for name, p in (("student", predicted), ("centre", torch.from_numpy(centre_map(h // 4, w // 4))[None, None])):
                kl, cc = losses(p, y)
                scores[name][0].append(float(cc))
                scores[name][1].append(float(kl))
    return {name: {"cc": round(float(np.mean(cc)), 4), "kl": round(float(np.mean(kl)), 4), "photos": len(cc)}
            for name, (cc, kl) in scores.items()}


# --- check -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="stage", required=True)
    for name in ("prepare", "train", "all"):
        stage = sub.add_parser(name)
        for source in ("mit", "mit-maps", "osie", "crowd"):
            stage.add_argument(f"--{source}", type=Path, required=name != "train",
                               help=f"root of {listing.SOURCES[source][0]} at {listing.SOURCES[source][1][:12]}")
        stage.add_argument("--work", type=Path, default=DEFAULT_WORK, help="prepared samples (outside the repo)")
        stage.add_argument("--val-folder", type=Path, help="also write the validation photos for quality.py here")
        stage.add_argument("--out", type=Path, default=DEFAULT_WORK / "fixation_student.onnx")
        stage.add_argument("--side", type=int, default=INPUT_SIDE, help="student input, long side px")
        stage.add_argument("--arch", choices=["ds", "conv"], default="ds")
        stage.add_argument("--widths", default="32,64,96,128")
        stage.add_argument("--epochs", type=int, default=6)
        stage.add_argument("--threads", type=int, default=1, help="torch threads (part of the recipe)")
        stage.add_argument("--batch", type=int, default=16)
        stage.add_argument("--lr", type=float, default=3e-3)
        stage.add_argument("--seed", type=int, default=0)
        stage.add_argument("--init", choices=["subject", "none"], default="subject",
                           help="start from the shipped subject student's weights, or from random ones")
        stage.add_argument("--freeze", default="e1,e2",
                           help="layers kept as the subject student's (comma-separated; '' for none)")
        stage.add_argument("--two-head", type=Path, metavar="ONNX",
                           help="also write the two-head net here (training/two_head.py; needs --freeze "
                                f"{TWO_HEAD_FREEZE})")
    check = sub.add_parser("check")
    check.add_argument("model", type=Path)
    check.add_argument("--against", type=Path, default=REPO / "models" / "fixation_student.onnx")
    check.add_argument("--tolerance", type=float, default=0.02)
    args = parser.parse_args(argv)
    if getattr(args, "two_head", None) is not None and set(args.freeze.split(",")) != set(TWO_HEAD_FREEZE.split(",")):
        parser.error(f"--two-head needs the whole encoder frozen: --freeze {TWO_HEAD_FREEZE}")
    if args.stage == "check":
        return subject_recipe.run_check(args)
    if args.stage in ("prepare", "all"):
        run_prepare(args)
    if args.stage in ("train", "all"):
        run_train(args)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
