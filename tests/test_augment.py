"""utils.augment against references: torch.flip, slicing, torchvision's crops and ten_crop, and
the eigen-decomposition behind PCA colour noise."""
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms.v2 import functional as TF

from utils import augment


def batch(b=6, c=3, h=10, w=12, seed=0):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_random_flip_flips_some_images_exactly():
    x = batch(b=64)
    out = augment.random_flip(x, generator=gen())
    flipped = [torch.equal(o, torch.flip(i, dims=[-1])) for o, i in zip(out, x)]
    kept = [torch.equal(o, i) for o, i in zip(out, x)]
    assert all(f != k for f, k in zip(flipped, kept))       # each image: one or the other
    assert 16 < sum(flipped) < 48                           # about half of them
    assert torch.equal(augment.random_flip(x, p=1.0), torch.flip(x, dims=[-1]))
    assert torch.equal(augment.random_flip(x, p=0.0), x)


def test_crop_at_equals_torchvision_crop():
    x = batch()
    tops, lefts = torch.tensor([0, 1, 2, 3, 4, 5]), torch.tensor([6, 0, 5, 1, 4, 2])
    out = augment.crop_at(x, tops, lefts, size=5)
    assert out.shape == (6, 3, 5, 5)
    for b in range(6):
        ref = TF.crop(x[b], int(tops[b]), int(lefts[b]), 5, 5)
        assert torch.equal(out[b], ref)


def test_random_crop_is_a_window_of_the_padded_image():
    x = batch(b=8, h=8, w=8)
    out = augment.random_crop(x, size=8, padding=2, generator=gen(1))
    padded = F.pad(x, (2, 2, 2, 2))
    assert out.shape == x.shape
    offsets = set()
    for b in range(8):
        hits = [(t, l) for t in range(5) for l in range(5)
                if torch.equal(out[b], padded[b, :, t:t + 8, l:l + 8])]
        assert hits, f"image {b} is not a crop of its padded image"
        offsets.add(hits[0])
    assert len(offsets) > 1                                  # a different window per image
    assert torch.equal(augment.random_crop(x, size=8), x)    # no padding, full size: identity


def test_center_crop_and_ten_crop_equal_torchvision():
    x = batch(h=9, w=9)
    assert torch.equal(augment.center_crop(x, size=5), x[:, :, 2:7, 2:7])
    views = augment.ten_crop(x, size=5)
    assert views.shape == (10, 6, 3, 5, 5)
    for b in (0, 5):
        for view, ref in zip(views[:, b], TF.ten_crop(x[b], [5, 5])):
            assert torch.equal(view, ref)
    # torchvision's order: corners and centre, then the same five of the mirrored image
    assert torch.equal(views[0], x[:, :, :5, :5])
    assert torch.equal(views[5], torch.flip(x, dims=[-1])[:, :, :5, :5])


def test_random_resized_crop_samples_like_interpolate():
    x = batch(h=12, w=12)
    out = augment.random_resized_crop(x, size=7, generator=gen(2))
    assert out.shape == (6, 3, 7, 7)
    # with the whole image as the box, roi_align (1 sample per bin) is bilinear interpolation
    whole = augment.random_resized_crop(x, size=7, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    ref = F.interpolate(x, size=(7, 7), mode="bilinear", align_corners=False, antialias=False)
    torch.testing.assert_close(whole, ref, atol=1e-5, rtol=0)
    up = augment.random_resized_crop(x, size=20, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    torch.testing.assert_close(up, F.interpolate(x, size=(20, 20), mode="bilinear",
                                                 align_corners=False), atol=1e-5, rtol=0)


def test_pca_basis_is_the_eigendecomposition_of_the_colour_covariance():
    x = batch(b=4, h=16, w=16)
    x[:, 1] = 0.5 * x[:, 0] + 0.1 * x[:, 1]                  # correlated channels
    vals, vecs = augment.pca_basis(x)
    pixels = x.permute(0, 2, 3, 1).reshape(-1, 3).double()
    cov = (pixels - pixels.mean(0)).T @ (pixels - pixels.mean(0)) / (len(pixels) - 1)
    torch.testing.assert_close((vecs @ torch.diag(vals) @ vecs.T).double(), cov,
                               atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(vecs.T @ vecs, torch.eye(3), atol=1e-5, rtol=0)
    assert torch.all(vals[1:] >= vals[:-1])                  # ascending


def test_pca_lighting_adds_one_colour_per_image_along_the_eigenvectors():
    x = batch(b=5, h=6, w=7)
    vals, vecs = augment.pca_basis(x)
    out = augment.pca_lighting(x, eigvals=vals, eigvecs=vecs, std=0.1, generator=gen(3))
    assert out.shape == x.shape
    shift = out - x                                          # [B, 3, H, W]
    per_image = shift[:, :, :1, :1]
    torch.testing.assert_close(shift, per_image.expand_as(shift))   # same for every pixel
    alpha = torch.randn(5, 3, generator=gen(3)) * 0.1        # the draws it made
    coords = per_image.flatten(1) @ vecs                     # coordinates in the eigenbasis
    torch.testing.assert_close(coords, alpha * vals, atol=1e-6, rtol=1e-4)
    # many draws: the shift averages to zero, so the mean colour is preserved
    big = torch.zeros(20000, 3, 1, 1)
    shifted = augment.pca_lighting(big, eigvals=torch.ones(3), eigvecs=torch.eye(3),
                                   generator=gen(4))
    assert shifted.mean(0).abs().max() < 0.005
    assert torch.equal(augment.pca_lighting(x, eigvals=vals, eigvecs=vecs, std=0.0), x)


def test_pca_lighting_on_grey_images_is_a_brightness_offset():
    x = batch(b=4, c=1)
    vals, vecs = augment.pca_basis(x)
    assert vals.shape == (1,) and torch.allclose(vecs.abs(), torch.ones(1, 1))
    out = augment.pca_lighting(x, eigvals=vals, eigvecs=vecs, std=0.5, generator=gen(5))
    diff = (out - x).flatten(1)
    torch.testing.assert_close(diff, diff[:, :1].expand_as(diff))


def test_evaluate_ten_crop_averages_the_views():
    class Votes(nn.Module):
        """Class 1 only for views whose mean pixel is large: a model that depends on the view."""
        def forward(self, x):
            m = x.mean(dim=(1, 2, 3))
            return torch.stack([torch.zeros_like(m), 50 * (m - 0.5)], dim=1)

    x = torch.zeros(2, 1, 6, 6)
    x[0, :, :3, :3] = 1.0        # bright top-left corner: 2 of 10 views vote strongly for 1
    x[1] = 1.0                   # bright everywhere: every view votes 1
    y = torch.tensor([0, 1])
    acc = augment.evaluate_ten_crop(Votes(), [(x, y)], crop=4, device="cpu")
    assert acc == 1.0
    assert augment.evaluate_ten_crop(Votes(), [(x, 1 - y)], crop=4, device="cpu") == 0.0


def test_compose_and_mapped():
    x = batch()
    f = augment.compose(lambda t: t + 1, lambda t: t * 2)
    assert torch.equal(f(x), (x + 1) * 2)
    mapped = augment.Mapped([(x, 0), (x, 1)], lambda t: augment.center_crop(t, size=4))
    assert len(mapped) == 2
    assert [tuple(a.shape) for a, _ in mapped] == [(6, 3, 4, 4)] * 2
