"""``spectralnn complete`` as a new user runs it: a 512×512 photo with 70 % of its pixels
removed (a PNG whose alpha channel marks them), default settings, each model one after another
in this process; errors on 10 % held-out observed pixels and on every removed pixel.

    python benchmarks/completion_camera.py [--models snn softimpute] [--keep 0.3]
        [--image camera] [--size 0] [--seed 0]

Absolute times depend on the machine and its load; compare the rows of one table.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["snn", "softimpute"])
    parser.add_argument("--keep", type=float, default=0.3, help="fraction of pixels kept")
    parser.add_argument("--image", default="camera", help="a scikit-image picture")
    parser.add_argument("--size", type=int, default=0, help="resize to SIZE×SIZE (0: keep)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from PIL import Image

    from spectralnn import skimage_image
    from spectralnn.completion import complete_file

    truth = skimage_image(args.image, size=args.size or None).numpy()
    keep = np.random.default_rng(args.seed).random(truth.shape) < args.keep
    grey = np.rint(truth).astype(np.uint8)
    print(f"{args.image} {truth.shape[0]}×{truth.shape[1]}, {100 * keep.mean():.1f} % of the "
          "pixels kept, --test-fraction 0.1, default settings otherwise")
    print(f"{'model':<12}{'seconds':>9}{'status':>24}{'test RMSE':>11}{'test PSNR':>11}"
          f"{'PSNR missing':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "photo.png"
        alpha = np.where(keep, 255, 0).astype(np.uint8)
        Image.fromarray(np.dstack([grey, alpha]), "LA").save(png)
        for model in args.models:
            out = Path(tmp) / model
            t0 = time.perf_counter()
            s = complete_file(png, out, test_fraction=0.1, seed=args.seed, model=model)
            seconds = time.perf_counter() - t0
            X = np.asarray(Image.open(out / "completed.png"), dtype=np.float64)
            mse = float(np.mean((X - truth)[~keep] ** 2))
            print(f"{model:<12}{seconds:>9.1f}{s['status']:>24}{s['test']['rmse']:>11.2f}"
                  f"{s['test']['psnr']:>11.2f}{10 * math.log10(255**2 / mse):>14.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
