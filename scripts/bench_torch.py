"""PyTorch + segmentation_models_pytorch side of scripts/bench-torch.ts.

A long-lived worker: it reads one JSON command per line on stdin and answers one JSON line on stdout, so the
TypeScript driver can alternate PyTorch and project measurements in one run.

Commands:
  {"cmd": "info"}                                      -> versions and thread counts
  {"cmd": "build", "arch": "Unet", "encoder": "resnet34", "size": 256, "batch": 4, "channels": 3, "lr": 1e-4}
  {"cmd": "train", "steps": 3}                         -> median ms of one training step (Adam, Dice + BCE)
  {"cmd": "infer", "steps": 3}                         -> median ms of one inference batch (eval mode, no grad)
  {"cmd": "profile"}                                   -> one training step under torch.profiler: its wall ms and
                                                          the ms of convolution forward / backward, batch norm
                                                          forward + backward and Adam's step

Thread counts come from the command line (--intra N --inter N) and are set before any work, the same numbers
the TensorFlow side runs with (TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS).
"""

import argparse
import json
import os
import statistics
import sys
import time
import warnings

# torch.profiler's Kineto backend logs its start and stop (and a failed GPU probe) to stderr; keep the output clean.
os.environ.setdefault("KINETO_LOG_LEVEL", "5")

import torch
import segmentation_models_pytorch as smp

warnings.filterwarnings("ignore", category=DeprecationWarning)


def dice_bce_loss(probs: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The project's Dice + BCE (ml/train/losses.ts): soft Dice pooled over batch and pixels, plus mean BCE."""
    eps = 1e-7
    dims = (0, 2, 3)
    intersection = (probs * masks).sum(dims)
    total = probs.sum(dims) + masks.sum(dims)
    dice = 1 - ((2 * intersection + 1) / (total + 1)).mean()
    p = probs.clamp(eps, 1 - eps)
    bce = -(masks * p.log() + (1 - masks) * (1 - p).log()).mean()
    return dice + bce


class Bench:
    def __init__(self) -> None:
        self.model = None

    def build(self, arch: str, encoder: str, size: int, batch: int, channels: int, lr: float) -> dict:
        torch.manual_seed(0)
        constructor = getattr(smp, arch)
        self.model = constructor(encoder_name=encoder, encoder_weights=None, in_channels=channels, classes=1)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.x = torch.rand(batch, channels, size, size)
        self.y = (torch.rand(batch, 1, size, size) > 0.5).float()
        params = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        return {"params": params}

    def train_step(self) -> None:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = dice_bce_loss(torch.sigmoid(self.model(self.x)), self.y)
        loss.backward()
        self.optimizer.step()
        loss.item()

    def infer_step(self) -> None:
        self.model.eval()
        with torch.inference_mode():
            torch.sigmoid(self.model(self.x)).sum().item()

    def profile(self) -> dict:
        """One profiled training step (after a warm-up): wall time and the time of each category of work.

        Categories are the outermost ATen ops of each kind (their totals include the oneDNN calls beneath them),
        so nothing is counted twice: convolution forward = aten::convolution, backward = aten::convolution_backward,
        batch norm = aten::batch_norm + aten::native_batch_norm_backward, optimizer = Adam's step.
        """
        from torch.profiler import ProfilerActivity, profile

        self.train_step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            self.train_step()
            wall = (time.perf_counter() - start) * 1000
        totals = {event.key: event.cpu_time_total / 1000 for event in prof.key_averages()}
        pick = lambda *names: sum(totals.get(name, 0.0) for name in names)
        optimizer = sum(ms for name, ms in totals.items() if name.startswith("Optimizer.step#"))
        return {
            "wallMs": wall,
            "convForwardMs": pick("aten::convolution"),
            "convBackwardMs": pick("aten::convolution_backward"),
            "batchNormMs": pick("aten::batch_norm", "aten::native_batch_norm_backward"),
            "optimizerMs": optimizer,
        }

    def timed(self, fn, steps: int) -> dict:
        fn()  # warm-up
        ms = []
        for _ in range(steps):
            start = time.perf_counter()
            fn()
            ms.append((time.perf_counter() - start) * 1000)
        return {"medianMs": statistics.median(ms), "ms": ms}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--intra", type=int, required=True)
    parser.add_argument("--inter", type=int, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.intra)
    torch.set_num_interop_threads(args.inter)
    bench = Bench()
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        try:
            name = command["cmd"]
            if name == "info":
                reply = {
                    "torch": torch.__version__, "smp": smp.__version__,
                    "intra": torch.get_num_threads(), "inter": torch.get_num_interop_threads(),
                }
            elif name == "build":
                reply = bench.build(command["arch"], command["encoder"], command["size"], command["batch"],
                                    command["channels"], command["lr"])
            elif name == "train":
                reply = bench.timed(bench.train_step, command["steps"])
            elif name == "infer":
                reply = bench.timed(bench.infer_step, command["steps"])
            elif name == "profile":
                reply = bench.profile()
            else:
                reply = {"error": f"unknown command {name}"}
        except Exception as error:  # reported to the driver, which prints it and stops
            reply = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
