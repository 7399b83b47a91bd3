"""The widget layer: ipywidgets + ipycanvas front ends of the engines (no numerics here: the engines compute,
:mod:`srwidgets.viz` colours).

================  ===========================================================================================
``runner``        :class:`~srwidgets.widgets.runner.Runner` / ``Job``: the worker thread (supersede, cancel, close)
``canvas``        :class:`~srwidgets.widgets.canvas.ImageView`, ``WindowSelector``, ``ScatterView``,
                  ``CurveView``, ``BarView``: layered canvases, the mouse, the plots
``base``          :class:`~srwidgets.widgets.base.EngineWidget`: status row, errors, checked keywords, export,
                  result cache
``panels``        :class:`~srwidgets.widgets.panels.WindowPanel` (SR image + selector), ``MapPanel`` (one LR
                  map), ``PanelGrid`` (the map panels, models × methods)
``trust_panel``   :class:`~srwidgets.widgets.trust_panel.TrustPanel`: a button running a callable, the
                  :func:`srwidgets.trust.report` tables it returns
``lam``           :class:`~srwidgets.widgets.lam.LAMWidget`: its traitlets, how it is built, its reactions
``lam_session``   :class:`~srwidgets.widgets.lam_session.LAMSession`: LAMWidget's state, jobs and cache, no
                  ipywidgets (the window's attributions, ERF, DI atlas, SR preview, trust report)
``lam_settings``  ``LAMSettings`` (LAMWidget's mixin): ``check_<name>`` of its arguments and traitlets (the
                  session's forwarded to it), the session's state under the widget's names
``lam_controls``  ``LAMControls`` (mixin): the Method, selection, engine and display control rows
``lam_jobs``      ``LAMJobs`` (mixin): the session's jobs on the worker — the window's attributions, DI atlas,
                  ERF, SR preview, Trust report
``lam_display``   ``LAMDisplay`` (mixin): what is shown — each panel's overlay in the view, the atlas, the
                  numbers, status line and history
``ddr``           :class:`~srwidgets.widgets.ddr.DDRWidget` (the view)
``ddr_session``   :class:`~srwidgets.widgets.ddr_session.DDRSession`: its state, jobs and results, no ipywidgets
``faig``          :class:`~srwidgets.widgets.faig.FAIGWidget` (the view)
``faig_session``  :class:`~srwidgets.widgets.faig_session.FAIGSession`: its state, jobs and cache, no ipywidgets
``session``       :class:`~srwidgets.widgets.session.Session` (``set``) and ``session_check``: what both share
================  ===========================================================================================
"""
