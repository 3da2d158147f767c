"""Masking: which pixels a coalition hides (precise, bbox, BBOA) and what fills them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageFilter

from pixelshap_eval.images import to_rgb
from pixelshap_eval.masking import FILLS, STRATEGIES, hidden_pixels, mask_image
from pixelshap_eval.players import Region, box_of_mask, grid_regions, regions_from_coco

WIDTH, HEIGHT = 8, 6


def _art(text: str) -> np.ndarray:
    """Boolean (H, W) array from rows of '#' (True) and '.' (False)."""
    return np.array([[c == "#" for c in row] for row in text.split()], dtype=bool)


def _region(label: str, text: str) -> Region:
    mask = _art(text)
    return Region(label=label, mask=mask, box=box_of_mask(mask))


# A table and a cup standing on it: the cup's mask reaches into the table's box.
TABLE = _region(
    "table",
    """
    ........
    ........
    ..#####.
    .######.
    .######.
    .######.
    """,
)
CUP = _region(
    "cup",
    """
    ........
    ....##..
    ....##..
    ....##..
    ........
    ........
    """,
)
REGIONS = [TABLE, CUP]


@pytest.fixture
def photo() -> Image.Image:
    """Every pixel distinct and never black, gray or white: r = 10 + 20x, g = 10 + 30y, b = 200."""
    xs, ys = np.meshgrid(np.arange(WIDTH), np.arange(HEIGHT))
    pixels = np.stack([10 + 20 * xs, 10 + 30 * ys, np.full_like(xs, 200)], axis=-1).astype(np.uint8)
    return Image.fromarray(pixels)


@pytest.mark.parametrize(
    "strategy, margin, dilation, coalition, expected",
    [
        # table hidden, cup visible
        ("precise", 2, 0, [False, True], TABLE.mask),
        ("bbox", 0, 0, [False, True], "........ ........ .######. .######. .######. .######."),
        ("bboa", 0, 0, [False, True], "........ ........ .###..#. .###..#. .######. .######."),
        ("bbox", 1, 0, [False, True], "........ ######## ######## ######## ######## ########"),
        ("bboa", 1, 0, [False, True], "........ ####..## ####..## ####..## ######## ########"),
        # cup hidden, table visible: BBOA keeps the table's pixels inside the cup's box
        ("precise", 0, 0, [True, False], CUP.mask),
        ("bbox", 0, 0, [True, False], CUP.mask),
        ("bboa", 0, 0, [True, False], "........ ....##.. ........ ........ ........ ........"),
        ("precise", 0, 1, [True, False], "...####. ...####. ...####. ...####. ...####. ........"),
        ("bboa", 1, 0, [True, False], "...####. ...####. ........ ........ ........ ........"),
        # nothing visible: boxes everywhere, no overlap to avoid
        ("bboa", 0, 0, [False, False], "........ ....##.. .######. .######. .######. .######."),
        ("precise", 0, 0, [False, False], "........ ....##.. ..#####. .######. .######. .######."),
        # everything visible: nothing hidden, whatever the margins
        ("bboa", 3, 3, [True, True], "........ ........ ........ ........ ........ ........"),
    ],
)
def test_hidden_pixels_by_hand(strategy, margin, dilation, coalition, expected):
    expected = _art(expected) if isinstance(expected, str) else expected
    got = hidden_pixels((WIDTH, HEIGHT), REGIONS, coalition, strategy, dilation=dilation, box_margin=margin)
    assert got.dtype == bool and got.shape == (HEIGHT, WIDTH)
    assert np.array_equal(got, expected), "\n" + "\n".join("".join("#" if v else "." for v in row) for row in got)


def test_box_margin_clips_at_every_border():
    corner = Region("corner", _art("##...... ##...... ........ ........ ........ ........"), box=(0, 0, 2, 2))
    far = Region("far", _art("........ ........ ........ ........ ........ .......#"), box=(7, 5, 1, 1))
    got = hidden_pixels((WIDTH, HEIGHT), [corner, far], [False, False], "bbox", box_margin=2)
    assert np.array_equal(got, _art("####.... ####.... ####.... ####.### .....### .....###"))


def test_dilation_clips_at_the_border():
    corner = Region("corner", _art("#....... ........ ........ ........ ........ ........"), box=(0, 0, 1, 1))
    got = hidden_pixels((WIDTH, HEIGHT), [corner], [False], "precise", dilation=2)
    assert np.array_equal(got, _art("###..... ###..... ###..... ........ ........ ........"))


@pytest.mark.parametrize(
    "fill, colour",
    [("black", (0, 0, 0)), ("gray", (128, 128, 128)), ("pad", (122, 116, 104)), ("mean", (80, 85, 200))],  # mean: (10+20*3.5, 10+30*2.5, 200)
)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_constant_fills_replace_exactly_the_hidden_pixels(photo, fill, colour, strategy):
    coalition = [False, True]
    hidden = hidden_pixels(photo.size, REGIONS, coalition, strategy, box_margin=0)
    out = np.asarray(mask_image(photo, REGIONS, coalition, strategy=strategy, fill=fill, box_margin=0))
    original = np.asarray(photo)
    assert hidden.any() and (~hidden).any()
    assert (out[hidden] == colour).all()
    assert np.array_equal(out[~hidden], original[~hidden])


def test_blur_fill_takes_the_blurred_image_at_hidden_pixels(photo):
    hidden = hidden_pixels(photo.size, REGIONS, [False, True], "bboa")
    original = np.asarray(photo)
    outputs = {}
    for radius in (1.0, 3.0):
        out = np.asarray(mask_image(photo, REGIONS, [False, True], fill="blur", blur_radius=radius))
        blurred = np.asarray(photo.filter(ImageFilter.GaussianBlur(radius)))
        assert np.array_equal(out[hidden], blurred[hidden])
        assert np.array_equal(out[~hidden], original[~hidden])
        assert not np.array_equal(out[hidden], original[hidden])
        outputs[radius] = out
    assert not np.array_equal(outputs[1.0], outputs[3.0])


def test_all_visible_returns_an_equal_new_image_and_input_is_untouched(photo):
    before = np.asarray(photo).copy()
    out = mask_image(photo, REGIONS, [True, True], fill="blur")
    assert out is not photo and out.mode == "RGB"
    assert np.array_equal(np.asarray(out), before)
    masked = mask_image(photo, REGIONS, [False, False], box_margin=10)
    assert (np.asarray(masked) == 0).all()  # a margin wider than the image hides all of it
    assert np.array_equal(np.asarray(photo), before)


def test_no_players_means_no_change(photo):
    assert np.array_equal(np.asarray(mask_image(photo, [], [])), np.asarray(photo))


def test_coalition_accepts_zero_one_numbers(photo):
    as_bools = mask_image(photo, REGIONS, [False, True])
    as_ints = mask_image(photo, REGIONS, np.array([0, 1]))
    assert np.array_equal(np.asarray(as_bools), np.asarray(as_ints))


# ---------------------------------------------------------------- image modes


def test_grey_palette_cmyk_and_bilevel_images_become_rgb():
    grey = Image.fromarray(np.array([[0, 100], [200, 255]], np.uint8))
    assert np.array_equal(np.asarray(to_rgb(grey)), np.repeat(np.asarray(grey)[:, :, None], 3, axis=2))
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((1, 0), 1)
    assert np.asarray(to_rgb(palette)).tolist() == [[[255, 0, 0], [0, 0, 255]]]
    cmyk = Image.new("CMYK", (2, 2), (0, 255, 255, 0))
    assert np.array_equal(np.asarray(to_rgb(cmyk)), np.asarray(cmyk.convert("RGB")))
    bilevel = Image.new("1", (2, 1))
    bilevel.putpixel((1, 0), 1)
    assert np.asarray(to_rgb(bilevel)).tolist() == [[[0, 0, 0], [255, 255, 255]]]


def test_transparency_is_composited_on_white():
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)  # opaque
    rgba[0, 1] = (10, 20, 30, 0)  # transparent
    rgba[0, 2] = (0, 0, 0, 51)  # 20% black over white: 255 * 0.8 = 204
    out = np.asarray(to_rgb(Image.fromarray(rgba)))
    assert out.tolist() == [[[10, 20, 30], [255, 255, 255], [204, 204, 204]]]
    grey_alpha = Image.new("LA", (1, 1), (50, 0))
    assert np.asarray(to_rgb(grey_alpha)).tolist() == [[[255, 255, 255]]]
    keyed = Image.new("P", (2, 1))
    keyed.putpalette([9, 9, 9, 40, 50, 60] + [0] * 762)
    keyed.putpixel((1, 0), 1)
    keyed.info["transparency"] = 0
    assert np.asarray(to_rgb(keyed)).tolist() == [[[255, 255, 255], [40, 50, 60]]]


def test_sixteen_bit_grey_is_scaled_not_clipped():
    deep = Image.fromarray(np.array([[0, 257 * 100, 65535, 300]], np.uint16))
    assert deep.mode == "I;16"
    assert np.asarray(to_rgb(deep))[0, :, 0].tolist() == [0, 100, 255, 1]


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16", "LA", "1", "I", "F"])
def test_every_mode_gives_an_rgb_mask_of_the_same_size(mode, photo):
    if mode == "I;16":
        image = Image.fromarray(np.asarray(photo.convert("L")).astype(np.uint16) * 257)
    else:
        image = photo.convert(mode)
    out = mask_image(image, REGIONS, [False, True], fill="gray")
    assert out.mode == "RGB" and out.size == photo.size
    hidden = hidden_pixels(photo.size, REGIONS, [False, True], "bboa")
    pixels = np.asarray(out)
    assert (pixels[hidden] == 128).all()
    assert np.array_equal(pixels[~hidden], np.asarray(to_rgb(image))[~hidden])
    assert image.mode == mode


# ---------------------------------------------------------------- errors


def test_bad_arguments_get_clear_errors(photo):
    with pytest.raises(ValueError, match=r"'precise', 'bbox', 'bboa'"):
        mask_image(photo, REGIONS, [True, False], strategy="box")
    with pytest.raises(ValueError, match=r"'black', 'gray', 'pad', 'mean', 'blur'"):
        mask_image(photo, REGIONS, [True, False], fill="white")
    with pytest.raises(ValueError, match="2 booleans"):
        mask_image(photo, REGIONS, [True])
    with pytest.raises(ValueError, match="2 booleans"):
        mask_image(photo, REGIONS, [[True, False]])
    with pytest.raises(ValueError, match="0/1"):
        mask_image(photo, REGIONS, [2, 0])
    with pytest.raises(ValueError, match="dilation"):
        mask_image(photo, REGIONS, [True, False], dilation=-1)
    with pytest.raises(ValueError, match="box_margin"):
        mask_image(photo, REGIONS, [True, False], box_margin=1.5)
    with pytest.raises(ValueError, match="blur_radius"):
        mask_image(photo, REGIONS, [True, False], fill="blur", blur_radius=0)
    with pytest.raises(TypeError, match="PIL"):
        mask_image(np.asarray(photo), REGIONS, [True, False])


def test_region_of_another_size_is_rejected(photo):
    wrong = Region("big", np.ones((HEIGHT + 1, WIDTH), bool), box=(0, 0, WIDTH, HEIGHT + 1))
    with pytest.raises(ValueError, match=r"region 1 \('big'\) has a 8x7 mask but the image is 8x6"):
        mask_image(photo, [TABLE, wrong], [True, True])


# ---------------------------------------------------------------- properties


@st.composite
def games(draw):
    """Random regions (masks with tight boxes) on a small image, and two nested coalitions."""
    height, width = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    n = draw(st.integers(1, 5))
    masks = draw(hnp.arrays(bool, (n, height, width)))
    regions = [Region(f"p{k}", mask, box_of_mask(mask)) for k, mask in enumerate(masks)]
    larger = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    smaller = larger & np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return (width, height), regions, smaller, larger


@settings(deadline=None, max_examples=80)
@given(game=games(), strategy=st.sampled_from(STRATEGIES), margin=st.integers(0, 2), dilation=st.integers(0, 2))
def test_hiding_more_players_never_reveals_a_pixel(game, strategy, margin, dilation):
    size, regions, smaller, larger = game
    fewer_visible = hidden_pixels(size, regions, smaller, strategy, dilation, margin)
    more_visible = hidden_pixels(size, regions, larger, strategy, dilation, margin)
    assert not (more_visible & ~fewer_visible).any()


@settings(deadline=None, max_examples=80)
@given(game=games(), margin=st.integers(0, 2))
def test_bboa_is_box_union_minus_visible_masks(game, margin):
    size, regions, coalition, _ = game
    boxes = hidden_pixels(size, regions, coalition, "bbox", box_margin=margin)
    visible = np.zeros((size[1], size[0]), bool)
    for region, keep in zip(regions, coalition):
        if keep:
            visible |= region.mask
    assert np.array_equal(hidden_pixels(size, regions, coalition, "bboa", box_margin=margin), boxes & ~visible)
    precise = hidden_pixels(size, regions, coalition, "precise")
    union = np.zeros_like(visible)
    for region, keep in zip(regions, coalition):
        if not keep:
            union |= region.mask
    assert np.array_equal(precise, union)
    assert not (precise & ~boxes).any()  # tight boxes hold their masks


@settings(deadline=None, max_examples=40)
@given(game=games(), strategy=st.sampled_from(STRATEGIES), fill=st.sampled_from(FILLS))
def test_mask_image_changes_only_hidden_pixels(game, strategy, fill):
    size, regions, coalition, _ = game
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    hidden = hidden_pixels(size, regions, coalition, strategy)
    out = np.asarray(mask_image(image, regions, coalition, strategy=strategy, fill=fill, blur_radius=2.0))
    assert np.array_equal(out[~hidden], np.asarray(image)[~hidden])


@settings(deadline=None, max_examples=30)
@given(
    width=st.integers(4, 40),
    height=st.integers(4, 40),
    pad=st.booleans(),
    margin=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
def test_bboa_on_grid_cells_hides_exactly_the_hidden_cells(width, height, pad, margin, seed):
    regions = grid_regions((width, height), 3, 4, pad_to_square=pad)
    coalition = np.random.default_rng(seed).random(len(regions)) < 0.5
    precise = hidden_pixels((width, height), regions, coalition, "precise")
    assert np.array_equal(hidden_pixels((width, height), regions, coalition, "bboa", box_margin=margin), precise)


# ---------------------------------------------------------------- real photo


def test_bboa_on_a_real_coco_photo_keeps_visible_objects(shared_data):
    root = shared_data / "coco_tiny"
    dataset = json.loads((root / "annotations" / "instances_val2017.json").read_text())
    per_image: dict[int, list] = {}
    for annotation in dataset["annotations"]:
        per_image.setdefault(annotation["image_id"], []).append(annotation)
    image_info = max(dataset["images"], key=lambda i: len(per_image.get(i["id"], [])))
    annotations = per_image[image_info["id"]]
    with Image.open(root / "val2017" / image_info["file_name"]) as opened:
        photo = opened.convert("RGB")
    regions = regions_from_coco(annotations, image_info["height"], image_info["width"], dataset["categories"])
    original = np.asarray(photo)
    rng = np.random.default_rng(0)
    for _ in range(5):
        coalition = rng.random(len(regions)) < 0.5
        out = np.asarray(mask_image(photo, regions, coalition))
        visible = np.any(
            [r.mask for r, keep in zip(regions, coalition) if keep] or [np.zeros(original.shape[:2], bool)], axis=0
        )
        gone = np.any([r.mask for r, keep in zip(regions, coalition) if not keep], axis=0) & ~visible
        assert np.array_equal(out[visible], original[visible])
        assert gone.any() and (out[gone] == 0).all()


def test_pad_fill_is_what_a_clip_processor_normalises_to_zero():
    from transformers import CLIPImageProcessor

    from pixelshap_eval.masking import CLIP_MEAN, PAD_COLOR

    processor = CLIPImageProcessor(do_resize=False, do_center_crop=False)
    assert tuple(processor.image_mean) == pytest.approx(CLIP_MEAN)
    pixels = processor(Image.new("RGB", (8, 8), PAD_COLOR), return_tensors="np")["pixel_values"]
    # int() truncation leaves each channel under one grey level from the mean
    assert np.abs(pixels).max() < 1 / 255 / min(processor.image_std)
