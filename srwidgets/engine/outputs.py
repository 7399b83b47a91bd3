"""Checks on the files a call is about to write, run **before** any computation: never write over an input.

Every command and every function with an output path (``--out``, ``--csv``, ``--atlas``, ``out=``, ...) calls
:func:`check_output` with everything it reads (images, folders of images, checkpoints, resumed tables): an output
that resolves to one of them — the same file through a symlink, a hard link, ``./`` or ``..`` — is refused with an
:class:`~srwidgets.errors.InputError` that names the flag and the input. :func:`check_distinct_outputs` refuses two
outputs of one call that are the same file.

Example:
    >>> import os, tempfile
    >>> from srwidgets.errors import InputError
    >>> d = tempfile.mkdtemp(); src = os.path.join(d, "a.png"); open(src, "wb").close()
    >>> try:
    ...     check_output(os.path.join(d, ".", "a.png"), inputs=[src], flag="--out")
    ... except InputError as e:
    ...     print("is the input" in str(e))
    True
    >>> check_output(os.path.join(d, "b.png"), inputs=[d], extensions=(".png",)) == os.path.join(d, "b.png")
    True
"""
from __future__ import annotations

import os
from typing import Iterable, List, Optional, Sequence

from ..errors import InputError

__all__ = ["check_output", "check_distinct_outputs", "same_file", "input_files", "free_name"]


def _fspath(path, flag: str) -> str:
    try:
        p = os.fspath(path)
    except TypeError:
        raise InputError(f"{flag} must be a file path (str or pathlib.Path), got {type(path).__name__}") from None
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    if not p.strip():
        raise InputError(f"{flag} is empty; give a file name")
    return p


def same_file(a: str, b: str) -> bool:
    """Do two paths name the same file (resolved: symlinks, ``..``, hard links when both exist)?"""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def input_files(inputs: Iterable) -> List[str]:
    """The files behind ``inputs`` (paths; a folder stands for itself and every file directly inside it; a list or
    tuple among them — a widget's ``images`` — stands for its items; values that are not paths — tensors, zoo names
    that are no file — are skipped)."""
    out: List[str] = []
    flat = []
    for item in inputs or ():
        flat.extend(item if isinstance(item, (list, tuple)) else [item])
    for item in flat:
        if item is None or not isinstance(item, (str, bytes, os.PathLike)):
            continue
        p = os.fsdecode(os.fspath(item))
        if not p:
            continue
        out.append(p)
        if os.path.isdir(p):
            try:
                out.extend(os.path.join(p, name) for name in sorted(os.listdir(p)))
            except OSError:
                pass
    return out


def check_output(path, *, inputs: Iterable = (), extensions: Optional[Sequence[str]] = None, flag: str = "out=",
                 what: str = "the output") -> str:
    """Refuse an output path before computing; returns it as a ``str``.

    Args:
        path: the file the call will write.
        inputs: everything the call reads: image files, folders (every file in them counts), checkpoints.
        extensions: the suffixes this output may have (lower case, with the dot); ``None``: any.
        flag: how the user named it, for the message (``"--out"``, ``"--csv"``, ``"out="``).
        what: what is written (``"a figure"``, ``"the table"``), for the message.

    Raises:
        InputError: the path is an existing folder, its folder is missing or not writable, its extension is not
            one of ``extensions``, or it is one of the inputs.
    """
    p = _fspath(path, flag)
    if os.path.isdir(p):
        example = os.path.join(p, "out" + (extensions[0] if extensions else ".png"))
        raise InputError(f"{flag} {p!r} is a folder; give a file name for {what}, e.g. {example!r}")
    folder = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {p!r}: the folder {folder!r} does not exist; create it or pick another {flag}")
    if not os.access(folder, os.W_OK):
        raise InputError(f"cannot write {p!r}: the folder {folder!r} is not writable; pick another {flag}")
    if extensions is not None:
        ext = os.path.splitext(p)[1].lower()
        if ext not in [e.lower() for e in extensions]:
            raise InputError(f"{flag} {p!r}: {what} is written as one of {', '.join(extensions)}, not "
                             f"{ext or 'a file without extension'}; change the extension")
    for src in input_files(inputs):
        if os.path.isfile(src) and same_file(p, src):
            raise InputError(f"{flag} {p!r} is the input {src!r}: writing {what} there would overwrite it; pick "
                             f"another {flag}")
    return p


def check_distinct_outputs(outputs: dict) -> None:
    """``{flag: path or None}``: refuse two outputs of one call that are the same file."""
    seen = []
    for flag, path in outputs.items():
        if path is None:
            continue
        p = _fspath(path, flag)
        for other_flag, other in seen:
            if same_file(p, other):
                raise InputError(f"{flag} {p!r} and {other_flag} {other!r} are the same file: one would overwrite "
                                 f"the other; give them different names")
        seen.append((flag, p))


def free_name(path) -> str:
    """``path`` when nothing is there, else the first free ``stem-1.ext``, ``stem-2.ext``, ...: where a default
    output name (the CLI's ``lam.png``, a widget's Save button) writes without replacing a file already there.

        >>> import os, tempfile
        >>> d = tempfile.mkdtemp(); open(os.path.join(d, "lam.png"), "w").close()
        >>> os.path.basename(free_name(os.path.join(d, "lam.png")))
        'lam-1.png'
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        return path
    stem, ext = os.path.splitext(path)
    k = 1
    while os.path.lexists(f"{stem}-{k}{ext}"):
        k += 1
    return f"{stem}-{k}{ext}"
