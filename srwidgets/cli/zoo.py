"""``python -m srwidgets zoo``: list the shipped models and bundled images."""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("zoo", help="list the shipped models (with held-out PSNR) and the bundled images")
    return p


def run(args):
    from .. import data, zoo

    print(f"{'model':22s} {'arch':10s} scale  params   held-out PSNR (bicubic)")
    for name in zoo.list():
        e = zoo.info(name)
        ev = e["eval"].get("bicubic") or e["eval"].get("clean")
        print(f"{name:22s} {e['arch']:10s} x{e['scale']}   {e['parameters']:7d}  {ev['psnr_mean']:.2f} dB ({ev['psnr_bicubic_mean']:.2f} dB)")
    print("bundled images:", ", ".join(data.images()))
