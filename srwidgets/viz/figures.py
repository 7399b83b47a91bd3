"""The Figure class of every srwidgets figure: a matplotlib ``Figure`` that a notebook shows as a PNG.

Figures are built without pyplot (safe on worker threads, no global state); Jupyter only registers its matplotlib
formatter once pyplot is imported, so a plain ``Figure`` at the end of a cell would show as the text
``<Figure size ... with N Axes>``. :func:`new_figure` builds one that displays itself.
"""
from __future__ import annotations

__all__ = ["figure_class", "new_figure"]


def _png(fig) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


_FIGURE_CLASS = None


def figure_class():
    """``matplotlib.figure.Figure`` that a notebook shows as a PNG (``_repr_png_``).

    Figures here are built without pyplot (safe on worker threads), and Jupyter only registers its matplotlib
    formatter once pyplot is imported: a plain ``Figure`` at the end of a cell then shows as the text
    ``<Figure size ... with N Axes>``. Built on first use, so importing :mod:`srwidgets.viz` does not import
    matplotlib."""
    global _FIGURE_CLASS
    if _FIGURE_CLASS is None:
        from matplotlib.figure import Figure

        class NotebookFigure(Figure):
            def _repr_png_(self) -> bytes:
                return _png(self)

            def __repr__(self) -> str:  # matplotlib's own text (notebooks/sanitize.cfg matches "<Figure size")
                width, height = self.bbox.size
                return f"<Figure size {width:g}x{height:g} with {len(self.axes)} Axes>"

        NotebookFigure.__module__, NotebookFigure.__qualname__ = __name__, "NotebookFigure"  # picklable
        _FIGURE_CLASS = NotebookFigure
    return _FIGURE_CLASS


def __getattr__(name):  # ``srwidgets.viz.figures.NotebookFigure`` (pickle finds the class here)
    if name == "NotebookFigure":
        return figure_class()
    raise AttributeError(name)


def new_figure(**kwargs):
    """A :func:`figure_class` figure (``figsize=``, ``layout=``, ... as ``matplotlib.figure.Figure``)."""
    return figure_class()(**kwargs)
