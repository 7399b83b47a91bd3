"""srwidgets.engine.outputs: an output path is never one of the inputs, however the inputs were given."""
import os

import pytest
import torch

from srwidgets.engine.outputs import check_output, input_files
from srwidgets.errors import InputError


def test_input_files_flattens_a_widgets_image_list_and_skips_what_is_no_path(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "b.png").write_bytes(b"")
    (folder / "a.png").write_bytes(b"")
    one = str(tmp_path / "one.png")
    got = input_files([[one, torch.zeros(3, 2, 2), None], str(folder), ("astronaut",)])
    assert got == [one, str(folder), str(folder / "a.png"), str(folder / "b.png"), "astronaut"]
    assert input_files([torch.zeros(1)]) == [] and input_files(None) == []


@pytest.mark.parametrize("images", ["one", ["one"], ("x.png", "one")])
def test_check_output_refuses_an_image_given_alone_or_in_a_list(tmp_path, images):
    path = tmp_path / "one.png"
    path.write_bytes(b"\x89PNG")
    images = str(path) if images == "one" else [str(path) if i == "one" else str(tmp_path / i) for i in images]
    with pytest.raises(InputError, match="input"):
        check_output(str(path), inputs=[images], extensions=(".png",), flag="path", what="the figure")
    assert os.path.getsize(path) == 4  # untouched
    assert check_output(str(tmp_path / "new.png"), inputs=[images], extensions=(".png",)) == str(tmp_path / "new.png")
