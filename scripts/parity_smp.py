"""
Builds segmentation_models_pytorch models with random weights (batch-norm statistics and affines randomised too, so
no layer is an identity), runs them in eval mode on a random input, and writes per configuration a smp
`save_pretrained` directory plus `io.safetensors` (input NCHW, logits NCHW) for scripts/parity-smp.ts to compare.

    python scripts/parity_smp.py JOB.json
JOB: {"out": DIR, "configs": [{"id", "arch", "encoder", "depth", "size", "grey", "seed", "fp16", "drop"}]}
- grey: the zoo model takes 1 channel; smp sees the grey image repeated on RGB (equal to summing the first conv).
- fp16: weights rounded to float16 and stored as F16 (the logits are computed from the rounded weights).
- drop: a regex of state_dict keys left out of the file (stages smp holds beyond the depth), to keep fixtures small.
"""
import json
import os
import re
import sys

import segmentation_models_pytorch as smp
import torch
from safetensors.torch import save_file

UNET_LIKE = {"Unet", "UnetPlusPlus", "MAnet"}


def build(cfg):
    kwargs = dict(encoder_name=cfg["encoder"], encoder_weights=None, in_channels=3, classes=1)
    depth = cfg.get("depth")
    if depth is not None:
        kwargs["encoder_depth"] = depth
        if cfg["arch"] in UNET_LIKE and depth < 5:
            kwargs["decoder_channels"] = [256, 128, 64, 32, 16][5 - depth:]
    return smp.create_model(cfg["arch"], **kwargs)


def randomise(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)
        elif isinstance(m, torch.nn.GroupNorm) and m.affine:
            m.weight.data.copy_(torch.rand(m.num_channels, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_channels, generator=gen) * 0.1)


def run(cfg, out):
    torch.manual_seed(cfg.get("seed", 0))
    gen = torch.Generator().manual_seed(cfg.get("seed", 0) + 1)
    model = build(cfg)
    with torch.no_grad():
        randomise(model, gen)
        if cfg.get("fp16"):
            for t in list(model.parameters()) + list(model.buffers()):
                if t.is_floating_point():
                    t.copy_(t.half().float())
    model.eval()
    size = cfg["size"]
    channels = 1 if cfg.get("grey") else 3
    x = torch.randn(1, channels, size, size, generator=gen)
    rgb = x.repeat(1, 3, 1, 1) if channels == 1 else x
    with torch.no_grad():
        logits = model(rgb)
    target = os.path.join(out, cfg["id"])
    os.makedirs(target, exist_ok=True)
    model.save_pretrained(target)
    drop = re.compile(cfg["drop"]) if cfg.get("drop") else None
    state = {
        k: (v.half() if cfg.get("fp16") and v.is_floating_point() else v).contiguous()
        for k, v in model.state_dict().items()
        if not (drop and drop.search(k))
    }
    save_file(state, os.path.join(target, "model.safetensors"))
    for extra in os.listdir(target):
        if extra not in ("model.safetensors", "config.json"):
            os.remove(os.path.join(target, extra))
    io = {"input": x.contiguous(), "logits": logits.float().contiguous()}
    if cfg.get("float64"):
        # smp's own float32 rounding: the same model and input in float64 (the noise floor of any float32 comparison).
        with torch.no_grad():
            io["logits64"] = model.double()(rgb.double()).contiguous()
    save_file(io, os.path.join(target, "io.safetensors"))
    return {"id": cfg["id"], "dir": target}


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    for cfg in job["configs"]:
        print(json.dumps(run(cfg, job["out"])), flush=True)


if __name__ == "__main__":
    main()
