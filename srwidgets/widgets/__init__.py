"""The widget layer: ipywidgets + ipycanvas front ends of the engines (no numerics here).

============  ===============================================================================================
``runner``    :class:`~srwidgets.widgets.runner.Runner` / ``Job``: the worker thread (supersede, cancel, close)
``canvas``    :class:`~srwidgets.widgets.canvas.ImageView`, ``WindowSelector``: layered canvases and the mouse
``base``      :class:`~srwidgets.widgets.base.EngineWidget`: status row, errors, export, result cache
``lam``       :class:`~srwidgets.widgets.lam.LAMWidget`
============  ===============================================================================================
"""
