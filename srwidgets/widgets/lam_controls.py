"""The LAM widget's control rows, each linked two-way to its traitlets: the Method row (one checkbox per registered
member of :func:`srwidgets.attribution.methods`), the selection row (window size, free size, DI atlas and its
stride, the history), the engine row (steps, sigma, kernel sliders, then one control per other knob of each ticked
member, generated from its declaration by :func:`knob_control`) and the display row (path, alpha, colormap, view).

:class:`LAMControls` is a mixin of :class:`~srwidgets.widgets.lam.LAMWidget`; :meth:`LAMControls._build_controls`
sets ``method_boxes``, ``history``, ``baseline_dropdown``, ``colormap_dropdown``, ``view_buttons`` and the four
rows (``_method_row``, ``_selection_row``, ``_engine_row``, ``_display_row``). The widget reacts to the traitlets
(``_method_ticked`` and ``_history_clicked`` are its handlers of the checkboxes and the history list).

    >>> view_button_width(["map", "difference"]), view_button_width(["map", "kde", "erf"])
    ('109px', '54px')
"""
from __future__ import annotations

import math

import ipywidgets as widgets

from .. import attribution
from ..errors import InputError
from ..lam import PATHS
from .lam_settings import COLORMAPS, TRAIT_KNOBS, VIEWS

__all__ = ["LAMControls", "PATH_LABELS", "view_button_width", "linked", "slider", "knob_control"]

PATH_LABELS = {"blur": "blur (paper)", "black": "line from black", "uniform": "line from noise",
               "gaussian": "line from x + noise", "blurred": "line from blurred x", "multi": "noise baselines, mean"}
"""The Path dropdown's labels (the dropdown's tooltip and :data:`srwidgets.lam.PATHS` give the full description)."""


BUTTON_PADDING = 24  # px: ipywidgets 8's toggle button padding (10 px each side) and 4 px of rounding slack


def _char_width(c: str) -> float:
    """An upper bound of a character's width, px, at the widgets' 13 px font (DejaVu Sans, the widest of the
    sans-serif fonts a browser picks for ``system-ui``: ``m`` 12.7, ``W`` 12.9, other capitals and ``w`` ≤ 10.6,
    other lower-case letters and digits ≤ 8.3)."""
    if c in "mMW":
        return 13.0
    if c == "w" or c.isupper():
        return 11.0
    return 8.5


def view_button_width(names) -> str:
    """The CSS width of the View buttons, one width for all: the longest label's width at the widgets' 13 px font
    (an upper bound per character, :func:`_char_width`) plus the button's padding. A flat 8 px a character cut
    "map" to "m…" (48 px for a 49 px label and its padding)."""
    return f"{math.ceil(max(sum(_char_width(c) for c in str(n)) for n in names)) + BUTTON_PADDING}px"


def linked(owner, trait: str, control):
    """``control.value`` linked two-way with ``owner.<trait>``; returns ``control``. A value typed into the control
    that the owner refuses (its ``check_<trait>`` raised; the message is in ``owner.error``) does not stay shown: the
    control goes back to the value still in effect, and the message stays until a valid value arrives."""
    echo = [False]  # True while the owner's value is written into the control: not sent back to the owner

    def to_control(change):
        echo[0] = True
        try:
            control.value = change["new"]
        finally:
            echo[0] = False

    def to_owner(change):
        if echo[0]:
            return
        setattr(owner, trait, change["new"])
        kept = getattr(owner, trait)
        if control.value != kept:  # refused (or normalised): show what is in effect
            to_control({"new": kept})

    to_control({"new": getattr(owner, trait)})
    control.observe(to_owner, "value")
    owner.observe(to_control, trait)
    return control


def slider(owner, trait: str, control):
    """A slider linked two-way with ``owner.<trait>``, but a value set from code outside the slider's range stays
    in the traitlet (and the engine reports it) instead of being silently clamped by the slider."""
    value = getattr(owner, trait)
    control.value = value if control.min <= value <= control.max else control.value
    control.observe(lambda c: setattr(owner, trait, c["new"]), "value")
    owner.observe(lambda c: setattr(control, "value", c["new"]) if control.min <= c["new"] <= control.max
                  else None, trait)
    return control


def knob_control(knob, value, description: str = None) -> widgets.Widget:
    """The control of one knob (:class:`srwidgets.attribution.Knob`), from its declaration: a slider for a bounded
    ``int`` / ``float`` (the knob's ``step``), a number box for an unbounded one, a checkbox for ``bool``, a dropdown
    for ``choice``, a text box for ``str`` and ``layer`` (an index or a name). ``value``: the current value (a value
    the control cannot show, e.g. a tensor baseline, shows the default)."""
    style, layout = {"description_width": "initial"}, widgets.Layout(width="auto", margin="0 12px 0 0")
    common = dict(description=description or f"{knob.name}:", style=style, layout=layout, tooltip=knob.help,
                  continuous_update=False)
    k = knob.kind
    if k in ("int", "float") and knob.low is not None and knob.high is not None and knob.high - knob.low <= 1000:
        cls = widgets.IntSlider if k == "int" else widgets.FloatSlider
        step = knob.step or (1 if k == "int" else (knob.high - knob.low) / 100)
        control = cls(min=knob.low, max=knob.high, step=int(step) if k == "int" else step, **common)
    elif k in ("int", "float"):
        control = (widgets.IntText if k == "int" else widgets.FloatText)(**common)
    elif k == "bool":
        control = widgets.Checkbox(indent=False, **{n: v for n, v in common.items() if n != "continuous_update"})
    elif k == "choice":
        control = widgets.Dropdown(options=list(knob.options()),
                                   **{n: v for n, v in common.items() if n != "continuous_update"})
    else:
        control = widgets.Text(placeholder="index or name" if k == "layer" else "", **common)
    shown = knob.default if value is None and knob.default is not None else value
    try:
        control.value = ("" if shown is None else str(shown)) if k in ("str", "layer") else shown
    except Exception:  # noqa: BLE001  (a value the control cannot show: a tensor baseline, a far-away number)
        if knob.default is not None:
            control.value = str(knob.default) if k in ("str", "layer") else knob.default
    control.add_class(f"srw-knob-{knob.name}")
    return control


class LAMControls:
    """Builds the LAM widget's control rows (a mixin)."""

    def _build_controls(self) -> None:
        self._method_row = self._build_method_row()
        self._selection_row = self._build_selection_row()
        self._engine_row = self._build_engine_row()
        self._display_row = self._build_display_row()

    def _build_method_row(self) -> widgets.HBox:
        # One box per member registered now (the family is open: a member registered later needs a new widget).
        self.method_boxes = {
            name: widgets.Checkbox(value=name in self.methods, description=name, indent=False, tooltip=text,
                                   layout=widgets.Layout(width="auto", margin="0 12px 0 0"))
            for name, text in attribution.methods().items()}
        for name, box in self.method_boxes.items():
            box.add_class(f"srw-method-{name}")
            box.observe(lambda c, name=name: self._method_ticked(name, c["new"]), "value")
        row = widgets.HBox([widgets.Label("Method:")] + list(self.method_boxes.values()),
                           layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        row.add_class("srw-methods")
        return row

    def _build_selection_row(self) -> widgets.HBox:
        small = widgets.Layout(width="170px")
        self.history = widgets.Select(options=[], rows=4, description="History:",
                                      layout=widgets.Layout(width="320px"))
        self.history.observe(self._history_clicked, "value")
        return widgets.HBox([
            linked(self, "window_size", widgets.IntText(description="Window:", layout=small)),
            linked(self, "free_size", widgets.Checkbox(description="free size (drag a rectangle)", indent=False)),
            widgets.VBox([
                linked(self, "atlas", widgets.Checkbox(description="DI atlas (click a cell to open it)",
                                                       indent=False)),
                linked(self, "atlas_stride", widgets.IntText(description="Stride:", layout=small)),
            ]),
            self.history,
        ])

    def _build_engine_row(self) -> widgets.VBox:
        sliders = widgets.HBox([
            slider(self, "steps", widgets.IntSlider(min=1, max=200, description="Steps:", continuous_update=False)),
            slider(self, "sigma", widgets.FloatSlider(min=0.0, max=4.0, step=0.1, description="Sigma:",
                                                      continuous_update=False)),
            slider(self, "kernel_size", widgets.IntSlider(min=1, max=31, step=2, description="Kernel:",
                                                          continuous_update=False)),
        ])
        self.knob_box = widgets.VBox([])
        self.knob_controls = {}  # (method, knob name) -> control
        self._refresh_knob_controls()
        self.observe(lambda c: self._refresh_knob_controls(), "methods")
        self.observe(lambda c: self._show_knob_values(), "knobs")
        return widgets.VBox([sliders, self.knob_box])

    # The controls of the ticked members' other knobs, generated from their declarations (knobs_of): a member's
    # new knob is a new control with no edit here. LAM's sliders and the Path dropdown hold the knobs of
    # TRAIT_KNOBS for every member that declares them.
    def _refresh_knob_controls(self) -> None:
        if getattr(self, "_knob_refused", None) not in (None, *self.methods):
            self.accept("knobs")  # the refused control is gone with its member: its message is stale
        rows, self.knob_controls = [], {}
        for method in self.methods:
            knobs = [k for k in attribution.knobs_of(attribution.method_class(method)) if k.name not in TRAIT_KNOBS]
            if not knobs:
                continue
            given = self.knobs.get(method, {})
            controls = []
            for knob in knobs:
                control = knob_control(knob, given.get(knob.name))
                control.observe(lambda c, m=method, k=knob: self._knob_set(m, k, c["new"]), "value")
                self.knob_controls[method, knob.name] = control
                controls.append(control)
            row = widgets.HBox([widgets.Label(f"{method}:", layout=widgets.Layout(width="auto", margin="0 8px 0 0"))]
                               + controls, layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
            row.add_class(f"srw-knobs-{method}")
            rows.append(row)
        self.knob_box.children = rows

    def _knob_set(self, method: str, knob, value) -> None:
        """A control moved: ``knobs[method][knob] = value`` (read by the knob: text of a layer / str knob)."""
        if getattr(self, "_showing_knobs", False):
            return
        given = dict(self.knobs.get(method, {}))
        if isinstance(value, str) and not value.strip() and knob.default is None:
            given.pop(knob.name, None)  # an emptied text box: back to the knob's default (e.g. gradcam's layer)
        else:
            try:
                value = knob.parse(value) if isinstance(value, str) else knob.check(value)
            except InputError as exc:
                self.refuse("knobs", str(exc))  # the next valid knob (this control or another) clears it
                self._knob_refused = method  # and so does hiding this member's controls (_refresh_knob_controls)
                return
            if value == knob.default and knob.name not in given:
                given = None  # the default shown: nothing to set
            else:
                given[knob.name] = value
        if given is None or given == self.knobs.get(method, {}):
            self.accept("knobs")  # a valid value that changes nothing: a refusal shown for a knob is stale
            return
        knobs = {**self.knobs, method: given}
        if not given:
            del knobs[method]
        self.knobs = knobs

    def _show_knob_values(self) -> None:
        """``knobs`` set from code: the controls show it (without setting it back)."""
        self._showing_knobs = True
        try:
            for (method, name), control in self.knob_controls.items():
                knob = next(k for k in attribution.knobs_of(attribution.method_class(method)) if k.name == name)
                value = self.knobs.get(method, {}).get(name, knob.default)
                shown = ("" if value is None else str(value)) if knob.kind in ("str", "layer") else value
                try:
                    if control.value != shown:
                        control.value = shown
                except Exception:  # noqa: BLE001  (a value the control cannot show, e.g. a tensor)
                    pass
        finally:
            self._showing_knobs = False

    def _build_display_row(self) -> widgets.HBox:
        # A label the dropdown shows whole (ipywidgets 8 cuts it at the box's width); the full descriptions are
        # in the tooltip.
        self.baseline_dropdown = widgets.Dropdown(options=[(PATH_LABELS.get(k, k), k) for k in PATHS],
                                                  description="Path:", style={"description_width": "initial"},
                                                  tooltip="\n".join(f"{k}: {v}" for k, v in PATHS.items()),
                                                  layout=widgets.Layout(width="230px"))
        options = COLORMAPS if self.colormap in COLORMAPS else COLORMAPS + [self.colormap]
        self.colormap_dropdown = widgets.Dropdown(options=options, description="Colormap:",
                                                  layout=widgets.Layout(width="220px"))
        views = self._views()
        # Buttons as wide as the longest name needs (view_button_width): a fixed 80 px cut "difference" to
        # "differe…", a flat 8 px a character "map" to "m…".
        self.view_buttons = widgets.ToggleButtons(options=views, description="View:",
                                                  tooltips=[VIEWS[v] for v in views],
                                                  style={"button_width": view_button_width(views),
                                                         "description_width": "initial"})
        return widgets.HBox([  # wraps rather than squeezing its controls on a narrow page
            linked(self, "path", self.baseline_dropdown),
            linked(self, "alpha", widgets.FloatSlider(min=0.0, max=1.0, step=0.05, description="Alpha:")),
            linked(self, "colormap", self.colormap_dropdown),
            linked(self, "view", self.view_buttons),
        ], layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
