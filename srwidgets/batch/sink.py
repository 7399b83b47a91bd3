"""The DI table's file: a CSV / Parquet writer that appends as rows finish, and the checks that let a run resume.

:class:`Sink` owns ``out`` and its settings sidecar ``<out>.json`` (settings, method and knobs, model and image
digests). A resumed run is refused when anything that changes a row differs: the settings (the method and its knobs
among them), the weights under a model name, the pixels under an image index. Nothing here computes an attribution.

Coordinates in the table: ``top``, ``left``, ``size`` in SR pixels; ``crop`` the LR box ``"top,left,height,width"``.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, List, Optional

from ..engine import check_output
from ..errors import InputError

COLUMNS = ["model", "method", "image", "file", "scale", "top", "left", "size", "di", "gini", "crop", "seconds", "psnr",
           "ssim"]
"""The table's columns, in order (``method``: the window-attribution member, :func:`srwidgets.attribution.methods`;
``psnr``/``ssim``: NaN without an HR reference; ``file``: ``""`` for tensors)."""
_TYPES = {"model": str, "method": str, "image": int, "file": str, "scale": int, "top": int, "left": int, "size": int,
          "di": float, "gini": float, "crop": str, "seconds": float, "psnr": float, "ssim": float}
_KEY = ["model", "image", "top", "left", "size"]  # one method per table (the sidecar says which), so not in the key
_LEGACY_COLUMNS = [c for c in COLUMNS if c != "method"]  # tables written before the method column: all LAM
_LEGACY_SETTINGS = {"method": "lam", "knobs": {}}  # what a sidecar written before methods existed meant

def frame(records: List[dict]) -> Any:
    import pandas as pd

    return pd.DataFrame(records, columns=COLUMNS).astype(_TYPES)


def _fix(out: str, sidecar: str) -> str:
    """How to get past a damaged table or settings file (the end of every resume error)."""
    return (f"delete {out!r} and {sidecar!r} to start again (the rows are recomputed), or pass another out= to keep "
            "them")


class Sink:
    """The output file (CSV appended row group by row group; Parquet rewritten whole, atomically) and its settings
    sidecar ``<out>.json`` (written atomically: a temporary file, then ``os.replace``). A CSV line is complete when
    it ends with a newline: a torn last line (a crash while writing) is dropped when the run resumes. A table or
    sidecar that cannot be read (torn, hand-edited, not a di_table file) is refused with a message naming the file,
    what is wrong and how to go on; it is never modified or deleted."""

    def __init__(self, out, state: dict, canonical=None):
        self.out, self.rows = (os.fspath(out) if out is not None else None), {}
        self.canonical = canonical or (lambda settings: settings)  # settings -> the form the resume check compares
        self.old_models, self.old_images = {}, {}
        if self.out is None:
            return
        self.kind = Path(self.out).suffix.lower()
        self.sidecar = self.out + ".json"
        if os.path.exists(self.out) and os.path.getsize(self.out) > 0:
            self._resume(state)
        state = dict(state, models=dict(self.old_models, **state["models"]),
                     images=dict(self.old_images, **state["images"]))
        _write_atomic(self.sidecar, json.dumps(state, indent=1))
        if not self.rows and os.path.exists(self.out):
            os.remove(self.out)

    def _resume(self, state: dict) -> None:
        if not os.path.exists(self.sidecar):
            raise InputError(f"{self.out!r} exists but its settings file {self.sidecar!r} does not, so a resumed run "
                             "cannot be checked against it; delete the table or pick another out=")
        old = self._settings()
        before = self.canonical(dict(_LEGACY_SETTINGS, **old["settings"]))
        now = self.canonical(state["settings"])
        diff = []
        for k, v in now.items():
            was = before.get(k)
            if k == "knobs" and isinstance(v, dict) and isinstance(was, dict) and before.get("method") == now.get("method"):
                diff += [f"{n}: {was.get(n)!r} in {self.out} vs {v.get(n)!r} now" for n in sorted(set(v) | set(was))
                         if was.get(n) != v.get(n)]
            elif was != v:
                diff.append(f"{k}: {was!r} in {self.out} vs {v!r} now")
        for part, what in (("models", "model"), ("images", "image")):
            diff += [f"{what} {k!r} differs from the one in {self.out} ({'weights' if what == 'model' else 'pixels'})"
                     for k, v in state[part].items() if k in old.get(part, {}) and old[part][k] != v]
        if diff:
            raise InputError(f"{self.out!r} was computed with other settings; refusing to mix them in one table ("
                             + "; ".join(diff) + "). Use another out=, or delete the file to start again")
        self.old_models, self.old_images = old["models"], old["images"]
        self.legacy = False
        for rec in self._read().to_dict("records"):
            self.rows[tuple(rec[k] for k in _KEY)] = rec
        if self.legacy:  # a LAM table from before the method column: rewritten whole (atomically) with it
            self._rewrite()

    def _settings(self) -> dict:
        """The sidecar's content, checked for form."""
        try:
            with open(self.sidecar, encoding="utf-8") as f:
                old = json.load(f)
        except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
            raise InputError(f"the settings file {self.sidecar!r} of the table {self.out!r} is damaged (not valid "
                             f"JSON: {e}; torn by a crash while it was written?), so the table cannot be resumed; "
                             + _fix(self.out, self.sidecar)) from None
        except OSError as e:
            raise InputError(f"cannot read the settings file {self.sidecar!r} of {self.out!r}: {e}") from None
        parts = ("settings", "models", "images")
        if not isinstance(old, dict) or not all(isinstance(old.get(k), dict) for k in parts):
            raise InputError(f"the settings file {self.sidecar!r} of the table {self.out!r} is not a di_table "
                             f"settings file (it needs the objects {', '.join(parts)}), so the table cannot be "
                             "resumed; " + _fix(self.out, self.sidecar))
        return old

    def _read(self):
        import pandas as pd

        if self.kind == ".parquet":
            try:
                table = pd.read_parquet(self.out)
            except Exception as e:  # pyarrow / fastparquet raise their own types for a torn or foreign file
                raise InputError(f"the table {self.out!r} cannot be read as Parquet ({type(e).__name__}: "
                                 f"{str(e)[:200]}); " + _fix(self.out, self.sidecar)) from None
            if list(table.columns) == _LEGACY_COLUMNS:
                table = self._upgraded(table)
            self._check_columns(list(table.columns))
            return self._typed(table)
        with open(self.out, "rb") as f:
            data = f.read()
        header = ",".join(COLUMNS).encode()
        first = data.split(b"\n", 1)[0].rstrip(b"\r")
        legacy = first == ",".join(_LEGACY_COLUMNS).encode()
        if first != header and not legacy:
            if b"\n" not in data and header.startswith(first):
                raise InputError(f"the header of the table {self.out!r} is torn (a crash while it was written?) and "
                                 "the file holds no rows; " + _fix(self.out, self.sidecar))
            self._check_columns(first.decode("utf-8", "replace").split(","))
        complete = data[:data.rfind(b"\n") + 1]  # a torn last line is dropped (its rows are recomputed)
        floats = [c for c, t in _TYPES.items() if t is float]
        exact = {} if int(pd.__version__.split(".")[0]) >= 3 else dict(float_precision="round_trip")  # 3: default
        try:
            table = pd.read_csv(io.BytesIO(complete), keep_default_na=False,
                                na_values={c: ["", "nan", "NaN"] for c in floats},
                                dtype={c: t for c, t in _TYPES.items() if t is str}, **exact)
        except (ValueError, UnicodeDecodeError) as e:  # pandas' ParserError is a ValueError
            raise InputError(f"the table {self.out!r} cannot be read as CSV ({str(e)[:200]}); "
                             + _fix(self.out, self.sidecar)) from None
        if legacy:
            table = self._upgraded(table)
        table = self._typed(table)
        if len(complete) < len(data) and not legacy:  # only once the rest is known to be a good table (a legacy
            # one is rewritten whole after reading)
            with open(self.out, "rb+") as f:
                f.truncate(len(complete))
        return table

    def _upgraded(self, table):
        """A table from before the ``method`` column (every row LAM's) with the column added."""
        self.legacy = True
        table = table.copy()
        table.insert(COLUMNS.index("method"), "method", "lam")
        return table

    def _check_columns(self, columns) -> None:
        if list(columns) != COLUMNS:
            shown = ", ".join(map(str, list(columns)[:len(COLUMNS) + 1]))
            raise InputError(f"the table {self.out!r} does not have di_table's columns (found: {shown[:300]}; "
                             f"expected: {', '.join(COLUMNS)}): it was edited or is another file; "
                             + _fix(self.out, self.sidecar))

    def _typed(self, table):
        """``table`` with :data:`_TYPES`; a cell that is no number (a hand edit) is named by row and column."""
        import pandas as pd

        try:
            return table.astype(_TYPES)
        except (ValueError, TypeError):
            pass
        for column, kind in _TYPES.items():
            if kind is str:
                continue
            values = table[column]
            parsed = pd.to_numeric(values, errors="coerce")
            bad = parsed.isna() & values.notna() & (values.astype(str).str.strip().str.lower() != "nan")
            if kind is int:
                bad |= parsed.notna() & (parsed != parsed.round())
                bad |= parsed.isna() & values.notna()
            if bad.any():
                rows = list(bad[bad].index)
                more = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
                line = rows[0] + 2  # 1-based, after the header
                raise InputError(f"the table {self.out!r} has {values[rows[0]]!r} in column {column!r} on line "
                                 f"{line}{more}, where {'an integer' if kind is int else 'a number'} belongs (a "
                                 "hand edit?); restore it, or " + _fix(self.out, self.sidecar))
        raise InputError(f"the table {self.out!r} has cells that are not of their column's type; "
                         + _fix(self.out, self.sidecar))

    def drop(self, keys) -> None:
        """Forget the rows of ``keys`` (in the file too)."""
        if not keys:
            return
        for k in keys:
            del self.rows[k]
        if self.out is not None:
            self._rewrite()

    def _rewrite(self) -> None:
        tmp = self.out + ".tmp"
        table = frame(list(self.rows.values()))
        if self.kind == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False, lineterminator="\n")
        os.replace(tmp, self.out)

    def write(self, records: List[dict]) -> None:
        for rec in records:
            self.rows[tuple(rec[k] for k in _KEY)] = rec
        if self.out is None:
            return
        if self.kind == ".parquet":
            self._rewrite()
            return
        new = not os.path.exists(self.out) or os.path.getsize(self.out) == 0
        text = frame(records).to_csv(index=False, header=new, lineterminator="\n")
        with open(self.out, "a") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def _write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that a crash leaves the old file or the new one, never half of it."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def check_out(out, images) -> Optional[str]:
    """``out=`` checked before anything is read or computed: a .csv / .parquet file in a writable folder, neither
    an input image (or a file in an input folder) nor a folder; Parquet needs a Parquet engine."""
    if out is None:
        return None
    inputs = [images] if isinstance(images, (str, os.PathLike)) else \
        list(images) if isinstance(images, (list, tuple)) else []
    try:
        name = os.fspath(out)
    except TypeError:
        name = None  # check_output says what a path must be
    if isinstance(name, str) and not os.path.isdir(name) and Path(name).suffix.lower() not in (".csv", ".parquet"):
        raise InputError(f"out={name!r}: di_table writes .csv or .parquet files; change the extension")
    out = check_output(out, inputs=inputs, extensions=(".csv", ".parquet"), flag="out=", what="the table")
    check_output(out + ".json", inputs=inputs, flag="out=", what="the table's settings file")
    if Path(out).suffix.lower() == ".parquet" and not any(_has(m) for m in ("pyarrow", "fastparquet")):
        raise InputError("writing Parquet needs pyarrow (pip install pyarrow); or write a .csv")
    return out


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
