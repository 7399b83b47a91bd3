"""The model guard: an engine may run the user's model, never change it.

Inside :func:`guarded` the model is in eval mode (Dropout off, BatchNorm on its running statistics), its
parameters do not require grad (engines take input gradients only, unless they ask for parameters), and on exit
every module's training flag, every parameter's ``requires_grad`` and ``.grad``, and every buffer's values are
as before — also when the forward pass failed or was cancelled.

Example:
    >>> import torch
    >>> from srwidgets.engine.guard import guarded
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3), torch.nn.BatchNorm2d(3)).train()
    >>> with guarded(model):
    ...     _ = model(torch.rand(2, 3, 8, 8))
    >>> model.training, float(model[1].running_mean.abs().sum())
    (True, 0.0)
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["guarded", "frozen", "explain_model_error"]


@contextmanager
def frozen(model: nn.Module):
    """Parameters without ``requires_grad`` inside the block (input gradients only); the flags are restored."""
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(False)
        yield model
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)


@contextmanager
def guarded(model: nn.Module, freeze: bool = True):
    """Run ``model`` in eval mode (and, with ``freeze``, with frozen parameters) inside the block; restore its
    modes, flags, gradients and buffers afterwards. Buffers are restored only where their values changed, so the cost
    is one copy of the buffers, no copy of the weights. Inside the block every ``.grad`` starts as ``None``; the
    user's gradients are put back afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    grads = [p.grad for p in params]
    try:
        model.eval()
        for p in params:
            p.grad = None  # a backward inside the block must not accumulate into the user's gradients
            if freeze:
                p.requires_grad_(False)
        yield model
    finally:
        for m, training in modes:
            m.training = training
        for p, flag, grad in zip(params, flags, grads):
            p.requires_grad_(flag)
            p.grad = grad
        # Compare values, not version counters: BatchNorm's running statistics and edits through ``.data`` change
        # a buffer without bumping its version. Copy back only what changed, so untouched buffers keep their
        # version (and the caches keyed on it stay valid).
        with torch.no_grad():
            for b, saved in buffers:
                if not torch.equal(b, saved):
                    b.copy_(saved)


def explain_model_error(exc: BaseException) -> "str | None":
    """A plain-words reason for a model fault that PyTorch reports in its own terms, or ``None``.

    Two faults engines meet in users' models: a forward pass that writes into its input (``x.mul_(255)``), and one
    that takes gradients of the model's own weights (``torch.autograd.grad`` / ``.backward()`` inside ``forward``).
    """
    text = str(exc)
    if "in-place operation" in text or "modified by an inplace operation" in text:
        return ("the model modifies its input in place (an operation such as x.mul_(255), x.sub_(mean) or "
                "x[...] = v on the tensor it receives); engines need the input unchanged to take its gradient. "
                "Make that first operation out of place (x = x * 255)")
    if "does not require grad and does not have a grad_fn" in text or "Inference tensors cannot be saved" in text \
            or "inference tensor" in text.lower():
        return ("the model takes gradients of its own weights inside forward (torch.autograd.grad or .backward() "
                "on its parameters); engines run the model with frozen weights (and the SR preview under "
                "torch.inference_mode), so that cannot work. Move the gradient computation out of forward")
    return None
