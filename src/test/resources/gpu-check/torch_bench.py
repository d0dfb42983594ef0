#!/usr/bin/env python3
"""PyTorch's side of the GPU check's benchmarks (docs/gpu-check.md).

Times, in PyTorch with cuDNN on the same GPU, the work of each bench item of the bundle that nnc's
runner timed: square GEMMs (torch.mm with a preallocated out=), 3x3 convolutions (cuDNN, with
benchmark mode choosing its fastest algorithm), and training steps of LeNet-5 (Adam) and the
CIFAR ResNet-18 (SGD with momentum) at the item's batch, in eager mode; in FP32, or with TF32
allowed in cuBLAS and cuDNN for the items nnc compiled with --tf32 (their keys end in -tf32). Then prints each beside
nnc's time from results.json, with the ratio, and writes torch.json.

Usage: python3 torch_bench.py BUNDLE   (after the runner wrote BUNDLE/results.json)
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def timed(fn, seconds=2.0):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    runs, t0 = 0, time.perf_counter()
    while True:
        fn()
        torch.cuda.synchronize()
        runs += 1
        t = time.perf_counter() - t0
        if t >= seconds and runs >= 3:
            return t / runs * 1e3


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


class Basic(nn.Module):
    def __init__(self, cin, c, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(c)
        self.c2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(c)
        self.short = None
        if stride != 1 or cin != c:
            self.short = nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (x if self.short is None else self.short(x)))


def resnet18_cifar():
    layers = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for c, stride in [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)]:
        layers.append(Basic(cin, c, stride))
        cin = c
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10)]
    return nn.Sequential(*layers)


def train_step(model, opt, shape, batch):
    model = model.cuda()
    x = torch.randn(batch, *shape, device="cuda")
    y = torch.randint(0, 10, (batch,), device="cuda")
    opt = opt(model.parameters())

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def work(key, batch):
    if key.endswith("-tf32"):
        key = key[:-len("-tf32")]
    if key.startswith("gemm-"):
        n = int(key.split("-")[1])
        a, b = torch.randn(n, n, device="cuda"), torch.randn(n, n, device="cuda")
        c = torch.empty(n, n, device="cuda")
        return lambda: torch.mm(a, b.t(), out=c)
    if key.startswith("conv-"):
        c = int(key.split("-")[1].split("x")[0])
        s = int(key.split("-")[2].split("x")[0])
        x = torch.randn(batch, c, s, s, device="cuda")
        w = torch.randn(c, c, 3, 3, device="cuda")
        return lambda: F.conv2d(x, w, padding=1)
    if key == "lenet5-train":
        return train_step(lenet5(), lambda p: torch.optim.Adam(p, lr=1e-3), (1, 28, 28), batch)
    if key == "resnet18-cifar-train":
        return train_step(resnet18_cifar(), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), (3, 32, 32), batch)
    return None


def main():
    bundle = sys.argv[1]
    torch.backends.cudnn.benchmark = True
    with open(os.path.join(bundle, "results.json")) as f:
        nnc = {b["key"]: b for b in json.load(f)["bench"]}
    out = []
    print(f"PyTorch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, {torch.cuda.get_device_name(0)}")
    print(f"{'work':45s} {'nnc ms':>10s} {'PyTorch ms':>11s} {'PyTorch/nnc':>12s}")
    for key in sorted(nnc):
        with open(os.path.join(bundle, "bench", key, "item.json")) as f:
            item = json.load(f)
        # FP32 as nnc computes by default; TF32 on the tensor cores (cuBLAS, cuDNN) where nnc's
        # item was compiled with --tf32.
        tf32 = bool(item.get("tf32", False))
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        fn = work(key, item["batch"])
        if fn is None:
            continue
        ms = timed(fn, item["seconds"])
        out.append({"key": key, "ms": ms})
        print(f"{item['name']:45s} {nnc[key]['ms']:10.3f} {ms:11.3f} {ms / nnc[key]['ms']:12.2f}")
    with open(os.path.join(bundle, "torch.json"), "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
