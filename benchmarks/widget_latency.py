"""Time from mouse-up on the SR canvas to the final heatmap painted, for the shipped x4 models (CPU by default).

    python benchmarks/widget_latency.py [--steps 50] [--image astronaut] [--device cpu]

The mouse events go through the canvas' frontend-message handler, exactly the route a browser's events take; the
clock stops when the widget has sent the finished heatmap and DI to the frontend (``wait()`` returns after the
job's last paint). "first" includes the one-off receptive-field probe and SR forward pass; "next" is a second,
new window on the same image (what a user dragging around sees). Prints a table; not a test.
"""
from __future__ import annotations

import argparse
import time

import torch


def mouse(view, event, x, y):
    view.canvas._handle_custom_msg({"event": event, "x": float(x), "y": float(y)}, [])


def click_release(widget, sx, sy):
    """Press and release at SR pixel (sx, sy); returns the time of the mouse-up."""
    view = widget.sr_view
    zoom = view.zoom  # display pixels per SR pixel
    mouse(view, "mouse_down", sx * zoom, sy * zoom)
    t = time.perf_counter()
    mouse(view, "mouse_up", sx * zoom, sy * zoom)
    return t


def main():
    import srwidgets
    from srwidgets import data, zoo

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--image", default="astronaut")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    lr = data.lr_image(args.image, 4)
    print(f"LR {tuple(lr.shape[1:])}, x4, {args.steps} steps, device {args.device}, torch threads {torch.get_num_threads()}")
    print(f"{'model':14s} {'first (s)':>10s} {'next (s)':>10s} {'DI':>7s}  crop")
    for name in [n for n in zoo.list() if zoo.info(n)["scale"] == 4]:
        w = srwidgets.LAMWidget(zoo.load(name, args.device), lr, steps=args.steps)
        w.wait()  # the SR preview pass the widget starts on display
        times = []
        for sx, sy in [(128, 104), (72, 168)]:
            t_up = click_release(w, sx, sy)
            w.wait()
            times.append(time.perf_counter() - t_up)
            if w.error:
                raise SystemExit(f"{name}: {w.error}")
        print(f"{name:14s} {times[0]:10.2f} {times[1]:10.2f} {w.result.diffusion_index:7.2f}  {w.result.crop}")


if __name__ == "__main__":
    main()
