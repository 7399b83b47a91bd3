"""The shared LRU cache and its keys (srwidgets.engine.cache)."""
import pytest
import torch
from torch import nn

from srwidgets.engine.cache import LRUCache, cache_key, image_digest, model_key

torch.set_num_threads(1)


# --- LRUCache ------------------------------------------------------------------------------------------------------
def test_lru_evicts_the_least_recently_put_entry():
    c = LRUCache(maxsize=2)
    c.put("a", 1)
    c.put("b", 2)
    c.put("c", 3)
    assert "a" not in c and c.get("b") == 2 and c.get("c") == 3 and len(c) == 2


def test_lru_get_refreshes_recency():
    c = LRUCache(maxsize=2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.get("a") == 1  # "a" is now the most recent: "b" goes next
    c.put("c", 3)
    assert "b" not in c and "a" in c and "c" in c


def test_lru_put_of_an_existing_key_refreshes_and_replaces():
    c = LRUCache(maxsize=2)
    c.put("a", 1)
    c.put("b", 2)
    c.put("a", 10)
    c.put("c", 3)
    assert c.get("a") == 10 and "b" not in c and len(c) == 2


def test_lru_get_missing_returns_default_without_storing():
    c = LRUCache(maxsize=2)
    assert c.get("x") is None and c.get("x", 5) == 5 and "x" not in c and len(c) == 0


def test_lru_get_or_make_calls_make_once():
    c = LRUCache(maxsize=4)
    calls = []

    def make():
        calls.append(1)
        return object()

    first = c.get_or_make("k", make)
    assert c.get_or_make("k", make) is first and len(calls) == 1
    c.clear()
    assert len(c) == 0 and c.get_or_make("k", make) is not first and len(calls) == 2


def test_lru_get_or_make_caches_a_none_result():
    c = LRUCache()
    calls = []
    assert c.get_or_make("k", lambda: calls.append(1)) is None
    assert c.get_or_make("k", lambda: calls.append(1)) is None and len(calls) == 1


# --- model_key -----------------------------------------------------------------------------------------------------
class Shifted(nn.Module):
    """A conv behind a non-persistent mean buffer (as EDSR's MeanShift)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.register_buffer("mean", torch.zeros(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        return self.conv(x - self.mean)


def test_model_key_is_stable_without_edits():
    m = Shifted().eval()
    assert model_key(m) == model_key(m)


def test_model_key_changes_after_an_in_place_parameter_edit():
    m = Shifted().eval()
    before = model_key(m)
    with torch.no_grad():
        m.conv.weight.mul_(2)
    assert model_key(m) != before


def test_model_key_changes_after_load_state_dict():
    m = Shifted().eval()
    before = model_key(m)
    m.load_state_dict(Shifted().state_dict())
    assert model_key(m) != before


def test_model_key_changes_after_an_in_place_buffer_edit():
    m = Shifted().eval()
    before = model_key(m)
    m.mean.fill_(0.5)
    assert model_key(m) != before


def test_model_key_changes_with_training_mode():
    m = Shifted().eval()
    before = model_key(m)
    m.train()
    assert model_key(m) != before
    m.eval()
    assert model_key(m) == before  # back to the same state


def test_model_key_unchanged_by_an_eval_forward_pass():
    m = nn.Sequential(nn.Conv2d(3, 3, 3), nn.BatchNorm2d(3), nn.ReLU()).eval()
    before = model_key(m)
    with torch.no_grad():
        m(torch.rand(1, 3, 8, 8))
    m(torch.rand(1, 3, 8, 8)).sum().backward()  # even with a backward pass (grads are not part of the state)
    assert model_key(m) == before


def test_model_key_changes_when_batchnorm_stats_are_recalibrated():
    m = nn.Sequential(nn.Conv2d(3, 3, 3), nn.BatchNorm2d(3)).eval()
    before = model_key(m)
    m.train()
    with torch.no_grad():
        m(torch.rand(2, 3, 8, 8))  # a calibration pass: running_mean / running_var move
    m.eval()
    # BatchNorm's kernel moves running_mean/var without bumping their version counter; the key still changes
    # because num_batches_tracked.add_(1) does bump it
    assert model_key(m) != before


def test_model_key_changes_after_an_edit_through_data():
    m = Shifted().eval()
    before = model_key(m)
    m.mean.data.fill_(0.5)
    assert model_key(m) != before


def test_model_key_differs_between_two_equal_models():
    a, b = Shifted(), Shifted()
    b.load_state_dict(a.state_dict())
    assert model_key(a) != model_key(b)


# --- image_digest / cache_key --------------------------------------------------------------------------------------
def test_image_digest_equal_for_equal_content():
    x = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert image_digest(x) == image_digest(x.clone())
    assert image_digest(x) == image_digest(x.transpose(1, 2).contiguous().transpose(1, 2))  # non-contiguous view of the same values


def test_image_digest_differs_for_different_bytes():
    x = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = x.clone()
    y[2, 7, 7] = torch.nextafter(y[2, 7, 7], torch.tensor(2.0))  # one ulp in one pixel
    assert image_digest(x) != image_digest(y)


def test_image_digest_differs_for_shape_and_dtype():
    x = torch.zeros(3, 4, 6)
    assert image_digest(x) != image_digest(x.reshape(3, 6, 4))  # same bytes, other shape
    assert image_digest(x) != image_digest(x.double())
    assert image_digest(torch.zeros(2, dtype=torch.bfloat16))[1] == "torch.bfloat16"


def test_cache_key_combines_model_and_image():
    m = Shifted().eval()
    x = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    key = cache_key(m, x)
    assert key == (model_key(m), image_digest(x)) and key == cache_key(m, x.clone())
    m.mean.fill_(0.1)
    assert cache_key(m, x) != key
    assert cache_key(m, x + 0.5) != cache_key(m, x)
