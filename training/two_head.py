#!/usr/bin/env python
"""The two-head variant: one encoder, a subject head and a fixation head, one forward pass.

    python training/train_fixation_student.py train --freeze e1,e2,e3,e4,context \
        --out /tmp/two-head/fixation_decoder.onnx              # the fixation decoder on the frozen encoder
    python training/two_head.py combine /tmp/two-head/fixation_decoder.onnx --out /tmp/two-head/two_head.onnx
    python training/two_head.py evaluate /tmp/two-head/two_head.onnx --work DIR   # validation CC / KL
    python training/two_head.py speed /tmp/two-head/two_head.onnx                 # one pass vs two nets
    python training/two_head.py quality /tmp/two-head/two_head.onnx -- --data DIR --both-splits

The fixation student trained with the subject student's whole encoder frozen (``--freeze
e1,e2,e3,e4,context``: stages to 1/16 and the context branch) differs from the subject student
only in its decoder (``skip3``, ``up3``, ``skip2``, ``up2``, ``head``). Stages:

``combine``
    Grafts that decoder onto ``models/subject_student.onnx``: the subject graph is kept node for
    node and weight for weight (so its ``subject`` output is the shipped one), and the fixation
    decoder's nodes, renamed ``fixation/...``, read the subject graph's encoder tensors. One ONNX,
    input ``rgb``, outputs ``subject`` and ``fixation``. Checked in ``cv2.dnn``: ``subject`` equal
    bit for bit to the subject student's on probe images, ``fixation`` within 1e-4 of the trained
    network's.
``evaluate``
    The validation photos of ``train_fixation_student.py``'s ``--work`` (never trained on): CC and
    KL of a two-head net's ``fixation`` output, of the shipped fixation student and of a centre
    Gaussian, all in ``cv2.dnn``, as that script's validation (same grid, same measures).
``speed``
    One forward pass of the two-head net against the subject and fixation students run one after
    the other on the same tensor, ``cv2.dnn`` on one thread, at the analysis input size
    (``smartframe.analysis.subject.input_dims`` of a few photo shapes), interleaved, many repeats.
``quality``
    ``benchmarks/quality.py`` (its arguments after ``--``) with smartframe's fixation map taken
    from a two-head net's ``fixation`` output; the subject map is the subject student's, which
    the ``subject`` output equals bit for bit. Never writes ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import train_fixation_student as fixation_recipe  # noqa: E402 -- the validation data and measures
import train_subject_student as subject_recipe  # noqa: E402 -- input sizes, probe images

SUBJECT = REPO / "models" / "subject_student.onnx"
FIXATION = REPO / "models" / "fixation_student.onnx"
#: The first node of the decoder (everything before it is the encoder and the context branch).
DECODER_START = "/skip3/skip3.0/Conv"
#: Photo shapes (height, width) the speed stage times the analysis input of.
SPEED_SHAPES = ((3000, 4000), (2000, 3000), (4000, 3000), (1080, 1920), (2000, 2000))


def combine(subject_path: Path, fixation_path: Path, out: Path, encoder_tolerance: float = 1e-6) -> None:
    """Write the two-head ONNX (see the module docstring); raises SystemExit when the fixation
    network's encoder is not the subject student's."""
    import onnx
    from onnx import helper, numpy_helper

    subject, fixation = onnx.load(str(subject_path)), onnx.load(str(fixation_path))
    s_nodes, f_nodes = list(subject.graph.node), list(fixation.graph.node)
    if [n.op_type for n in s_nodes] != [n.op_type for n in f_nodes]:
        raise SystemExit(f"{fixation_path}: not the subject student's graph")
    split = [n.name for n in f_nodes].index(DECODER_START)
    s_weights = {i.name: numpy_helper.to_array(i) for i in subject.graph.initializer}
    f_weights = {i.name: numpy_helper.to_array(i) for i in fixation.graph.initializer}
    # The encoder's tensors and weights of the fixation graph -> the subject graph's names.
    rename = {"rgb": "rgb"}
    worst = 0.0
    for s_node, f_node in zip(s_nodes[:split], f_nodes[:split]):
        for s_name, f_name in zip(s_node.input, f_node.input):
            if f_name in f_weights:
                worst = max(worst, float(np.abs(s_weights[s_name] - f_weights[f_name]).max()))
            rename[f_name] = s_name
        rename.update(zip(f_node.output, s_node.output))
    if worst > encoder_tolerance:
        raise SystemExit(f"{fixation_path}: its encoder differs from the subject student's by {worst:.2e} "
                         "(train it with --freeze e1,e2,e3,e4,context)")
    graph = subject.graph
    used = set()
    for node in f_nodes[split:]:
        inputs = [rename.get(name, f"fixation{name}" if name.startswith("/") else f"fixation/{name}")
                  if name else "" for name in node.input]
        used.update(name for name in node.input if name in f_weights)
        outputs = ["fixation" if name == fixation.graph.output[0].name else f"fixation{name}"
                   for name in node.output]
        copy = helper.make_node(node.op_type, inputs, outputs, name=f"fixation{node.name}")
        copy.attribute.extend(node.attribute)
        graph.node.append(copy)
    for name in sorted(used):
        graph.initializer.append(numpy_helper.from_array(f_weights[name], f"fixation/{name}"))
    output = onnx.ValueInfoProto()
    output.CopyFrom(fixation.graph.output[0])
    output.name = "fixation"
    graph.output.append(output)
    onnx.checker.check_model(subject)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(subject, str(out))
    check_combined(out, subject_path, fixation_path)


def run_net(net, tensor: np.ndarray, names=None):
    net.setInput(tensor)
    return net.forward(names) if names else net.forward()


def probe_tensors() -> list[np.ndarray]:
    tensors = [subject_recipe.student_input(image, 160) for image in subject_recipe.probe_images()]
    rng = np.random.default_rng(1)
    tensors += [rng.random((1, 3, 112, 160), dtype=np.float32), rng.random((1, 3, 160, 96), dtype=np.float32)]
    return tensors


def check_combined(path: Path, subject_path: Path, fixation_path: Path) -> None:
    both = cv2.dnn.readNetFromONNX(str(path))
    subject = cv2.dnn.readNetFromONNX(str(subject_path))
    fixation = cv2.dnn.readNetFromONNX(str(fixation_path))
    worst, probes = 0.0, probe_tensors()
    for tensor in probes:
        s, f = run_net(both, tensor, ["subject", "fixation"])
        if not np.array_equal(s, run_net(subject, tensor)):
            raise SystemExit(f"{path}: its subject output is not the subject student's bit for bit")
        worst = max(worst, float(np.abs(f - run_net(fixation, tensor)).max()))
    if worst > 1e-4:
        raise SystemExit(f"{path}: its fixation output differs from {fixation_path} by {worst:.2e}")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    print(f"combine: {path} ({path.stat().st_size} bytes, SHA-256 {sha}): subject bit for bit the subject "
          f"student's, fixation within {worst:.1e} of {fixation_path.name} on {len(probes)} probes")


def run_evaluate(args) -> None:
    import torch

    cv2.setNumThreads(1)
    images, maps, _ = fixation_recipe.load_samples(args.work, "val")
    both = cv2.dnn.readNetFromONNX(str(args.model))
    shipped = cv2.dnn.readNetFromONNX(str(args.against))
    scores: dict[str, tuple[list, list]] = {"two-head": ([], []), "shipped": ([], []), "centre": ([], [])}
    for image, target in zip(images, maps):
        tensor = subject_recipe.student_input(image, args.side)
        h, w = tensor.shape[2:]
        y = torch.from_numpy(cv2.resize(target, (w // 4, h // 4), interpolation=cv2.INTER_AREA))[None, None]
        for name, p in (("two-head", run_net(both, tensor, ["fixation"])[0]), ("shipped", run_net(shipped, tensor)),
                        ("centre", fixation_recipe.centre_map(h // 4, w // 4)[None, None])):
            kl, cc = fixation_recipe.losses(torch.from_numpy(np.asarray(p, np.float32)), y)
            scores[name][0].append(float(cc))
            scores[name][1].append(float(kl))
    for name, (cc, kl) in scores.items():
        print(f"evaluate: {name:9s} CC {np.mean(cc):.4f}  KL {np.mean(kl):.4f}  ({len(cc)} validation photos)")
    cc_two, cc_shipped = np.array(scores["two-head"][0]), np.array(scores["shipped"][0])
    print(f"evaluate: two-head CC better than shipped on {int((cc_two > cc_shipped).sum())} of {len(cc_two)} photos")


def run_speed(args) -> None:
    from smartframe.analysis.subject import input_dims

    cv2.setNumThreads(1)
    both = cv2.dnn.readNetFromONNX(str(args.model))
    subject = cv2.dnn.readNetFromONNX(str(args.subject))
    fixation = cv2.dnn.readNetFromONNX(str(args.against))
    rng = np.random.default_rng(0)
    ratios = []
    for height, width in SPEED_SHAPES:
        rows, cols = input_dims(height, width)
        tensor = rng.random((1, 3, rows, cols), dtype=np.float32)
        for _ in range(20):  # warm-up: cv2.dnn sets itself up for the shape on the first passes
            run_net(both, tensor, ["subject", "fixation"]), run_net(subject, tensor), run_net(fixation, tensor)
        one, two = [], []
        for _ in range(args.repeats):  # interleaved, so drifts of the machine hit both alike
            started = time.perf_counter()
            run_net(both, tensor, ["subject", "fixation"])
            middle = time.perf_counter()
            run_net(subject, tensor)
            run_net(fixation, tensor)
            two.append(time.perf_counter() - middle)
            one.append(middle - started)
        one_ms, two_ms = 1e3 * float(np.median(one)), 1e3 * float(np.median(two))
        ratios.append(one_ms / two_ms)
        print(f"speed: {height}x{width} photo -> input {rows}x{cols}: two-head {one_ms:.3f} ms, "
              f"subject + fixation {two_ms:.3f} ms (medians of {args.repeats}), ratio {one_ms / two_ms:.3f}")
    print(f"speed: two-head / two networks, geometric mean over the shapes: {float(np.exp(np.mean(np.log(ratios)))):.3f}")


class TwoHeadFixation:
    """The fixation map's network for smartframe's analysis, from a two-head net's ``fixation``
    output (the interface of :class:`smartframe.analysis.subject.SubjectNetwork`)."""

    def __init__(self, path: Path):
        import threading

        self._net = cv2.dnn.readNetFromONNX(str(path))
        self._lock = threading.Lock()

    def run(self, tensor: np.ndarray) -> np.ndarray:
        with self._lock:
            out = run_net(self._net, tensor, ["fixation"])[0]
        return np.asarray(out, np.float32)[0, 0]


def run_quality(args) -> int:
    from smartframe.analysis import fixation

    network = TwoHeadFixation(args.model)
    fixation.get_network = lambda: network  # what the analysis asks for the fixation map
    sys.path.insert(0, str(REPO / "benchmarks"))
    import quality

    rest = [a for a in args.rest if a != "--"]
    print(f"quality: the fixation map from {args.model}", flush=True)
    return quality.main([*rest, "--no-results"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="stage", required=True)
    stage = sub.add_parser("combine")
    stage.add_argument("fixation", type=Path, help="a fixation network trained with the encoder frozen")
    stage.add_argument("--subject", type=Path, default=SUBJECT)
    stage.add_argument("--out", type=Path, required=True)
    stage = sub.add_parser("evaluate")
    stage.add_argument("model", type=Path, help="a two-head ONNX")
    stage.add_argument("--against", type=Path, default=FIXATION)
    stage.add_argument("--work", type=Path, default=fixation_recipe.DEFAULT_WORK)
    stage.add_argument("--side", type=int, default=fixation_recipe.INPUT_SIDE)
    stage = sub.add_parser("speed")
    stage.add_argument("model", type=Path, help="a two-head ONNX")
    stage.add_argument("--subject", type=Path, default=SUBJECT)
    stage.add_argument("--against", type=Path, default=FIXATION)
    stage.add_argument("--repeats", type=int, default=2000)
    stage = sub.add_parser("quality")
    stage.add_argument("model", type=Path, help="a two-head ONNX")
    stage.add_argument("rest", nargs=argparse.REMAINDER, help="-- then benchmarks/quality.py's arguments")
    args = parser.parse_args(argv)
    if args.stage == "combine":
        combine(args.subject, args.fixation, args.out)
    elif args.stage == "evaluate":
        run_evaluate(args)
    elif args.stage == "speed":
        run_speed(args)
    else:
        return run_quality(args)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
