"""EngineWidget's checked keywords (srwidgets.widgets.base): one convention for every widget's settings."""
import numpy as np
import pytest

from srwidgets.engine import check_choice, check_int
from srwidgets.errors import InputError
from srwidgets.widgets.base import CheckedFloat, CheckedInt, CheckedUnicode, EngineWidget


class Demo(EngineWidget):
    keywords = ("mode", "count")
    mode = CheckedUnicode("a")
    count = CheckedInt(1)
    ratio = CheckedFloat(0.5)  # no check_ratio: the Float type's own validation

    def check_mode(self, value):
        return check_choice("mode", value, ["a", "b"])

    def check_count(self, value):
        return check_int("count", value, 1)


@pytest.fixture
def demo():
    w = Demo()
    yield w
    w.close()


def test_while_building_a_bad_value_raises_the_checks_input_error(demo):
    with pytest.raises(InputError, match="unknown mode 'c'; choose one of: a, b"):
        demo.set_keywords({"mode": "c"})
    with pytest.raises(InputError, match="count must be an integer >= 1"):
        demo.set_keywords({"count": "3"})  # a wrong type reaches the check, not a TraitError


def test_once_ready_a_bad_value_is_reported_and_the_old_one_kept(demo):
    demo._ready = True
    demo.mode = "b"
    demo.mode = 3
    assert demo.mode == "b" and "unknown mode 3" in demo.error
    demo.count = np.int64(4)
    assert demo.count == 4 and type(demo.count) is int


def test_unknown_keywords_list_the_accepted_ones(demo):
    with pytest.raises(TypeError, match="accepts mode, count"):
        demo.set_keywords({"ratio": 0.1})


def test_a_traitlet_without_a_check_keeps_its_types_validation_as_an_input_error():
    class Open(Demo):
        keywords = ()

    w = Open()
    with pytest.raises(InputError, match="ratio must be a float"):
        w.set_keywords({"ratio": "x"})
    w.close()


def test_a_widget_whose_constructor_failed_early_closes_cleanly():
    w = EngineWidget.__new__(EngineWidget)  # as after an exception before EngineWidget.__init__
    w.close()  # what ipywidgets' __del__ calls: no AttributeError
    assert w.closed


def test_the_cache_and_the_export_row_are_made_only_when_used(demo):
    assert demo._cache is None and demo._export is None
    demo.cache_put("k", 1)
    assert demo.cache_get("k") == 1 and demo._export is None
    row = demo.export_row()
    assert list(row.children) == [demo.export_path, demo.export_button]
    assert demo.export_path.value == Demo.default_figure_path


def test_ready_follows_the_subclass_flag(demo):
    assert not demo.ready
    demo._ready = True
    assert demo.ready


def test_an_unknown_keyword_is_the_same_error_in_every_widget_before_anything_is_built(monkeypatch):
    """One convention (issue 17): an unknown keyword is a KeywordError — an InputError like every bad argument, and
    the TypeError Python raises for an unexpected keyword — naming it and the accepted ones, in every widget, raised
    before any model is checked or copied."""
    import srwidgets
    from srwidgets.widgets.base import KeywordError
    from srwidgets.widgets.faig import FAIGWidget

    def never(*args, **kwargs):
        raise AssertionError("a model was resolved before the keywords were checked")

    monkeypatch.setattr(srwidgets.faig.engine, "model_pair", never)
    widgets = {"LAMWidget": lambda: srwidgets.LAMWidget("x4-fsrcnn", "astronaut", layer="bogus"),
               "DDRWidget": lambda: srwidgets.DDRWidget("x2-srresnet-bicubic", ["astronaut"], layers_=3),
               "FAIGWidget": lambda: FAIGWidget("x2-srresnet-bicubic", "x2-srresnet-blind", ["astronaut"], window=3)}
    for name, make in widgets.items():
        with pytest.raises(KeywordError, match=f"{name} got an unexpected keyword argument") as info:
            make()
        assert isinstance(info.value, InputError) and isinstance(info.value, TypeError)


def test_set_keywords_unknown_name_is_a_keyword_error(demo):
    from srwidgets.widgets.base import KeywordError

    with pytest.raises(KeywordError, match="accepts mode, count"):
        demo.set_keywords({"ratio": 0.1})
