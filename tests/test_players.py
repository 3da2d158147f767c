"""Players: grid cells, boxes, masks, COCO annotations and SAM segments become regions."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from pixelshap_eval.data.schema import encode_mask
from pixelshap_eval.grid import GridFrame
from pixelshap_eval.players import (
    Region,
    box_of_mask,
    box_pixel_bounds,
    grid_regions,
    regions_from_boxes,
    regions_from_coco,
    regions_from_masks,
    regions_from_sam,
)

# ---------------------------------------------------------------- grid


@settings(deadline=None, max_examples=60)
@given(
    width=st.integers(1, 50),
    height=st.integers(1, 50),
    rows=st.integers(1, 7),
    cols=st.integers(1, 7),
    pad=st.booleans(),
)
def test_grid_cells_partition_the_image(width, height, rows, cols, pad):
    regions = grid_regions((width, height), rows, cols, pad_to_square=pad)
    assert [r.id for r in regions] == list(range(rows * cols))
    assert [r.label for r in regions] == [f"r{k // cols}c{k % cols}" for k in range(rows * cols)]
    coverage = np.sum([r.mask for r in regions], axis=0)
    assert coverage.shape == (height, width)
    assert (coverage == 1).all()
    for region in regions:
        assert region.box == box_of_mask(region.mask)
        if region.area:  # every cell is a full rectangle: its box holds nothing else
            assert region.area == region.box[2] * region.box[3]


@settings(deadline=None, max_examples=30)
@given(side=st.integers(1, 60), rows=st.integers(1, 7), cols=st.integers(1, 7))
def test_square_image_gets_the_same_cells_with_or_without_padding(side, rows, cols):
    plain = grid_regions((side, side), rows, cols)
    padded = grid_regions((side, side), rows, cols, pad_to_square=True)
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(plain, padded))


def test_unpadded_cells_split_pixels_by_their_centres():
    # 10 px into 3 columns: pixel centres 0.5..9.5 at cut points 3.33 and 6.67 -> 3, 4, 3
    regions = grid_regions((10, 1), rows=1, cols=3)
    assert [r.area for r in regions] == [3, 4, 3]


def test_padded_grid_on_landscape_image_matches_hand_computed_cells():
    square = GridFrame(640, 480, 12, 12, pad_to_square=True)
    assert square.frame_size == (640, 640)
    assert square.offset == (0, 80)
    regions = grid_regions((640, 480), 12, 12, pad_to_square=True)
    # each cell is 640 / 12 = 53.33 px of the square; 80 px of padding sit above and below
    # the photo, so cell row 0 spans square rows [0, 53.3) = original rows [-80, -26.7): empty.
    for cell in list(range(12)) + list(range(132, 144)):
        assert regions[cell].area == 0, regions[cell].label
        assert regions[cell].box == (0.0, 0.0, 0.0, 0.0)
    # r1c0: square rows [53.3, 106.7) -> original rows 0..26 (centres 0.5..26.5 + 80 < 106.7);
    # columns [0, 53.3) -> 0..52.
    assert regions[12].label == "r1c0"
    assert regions[12].box == (0.0, 0.0, 53.0, 27.0)
    # r10c11: rows from ceil(586.67 - 80.5 - 53.33)... = 453..479, columns 587..639
    assert regions[131].label == "r10c11"
    assert regions[131].box == (587.0, 453.0, 53.0, 27.0)
    # middle rows are whole cells: r5c5 spans square [266.7, 320) -> original rows 187..239
    assert regions[65].box == (267.0, 187.0, 53.0, 53.0)
    kept = grid_regions((640, 480), 12, 12, pad_to_square=True, drop_empty=True)
    assert [r.id for r in kept] == list(range(12, 132))


def test_padded_grid_on_portrait_image_pads_left_and_right():
    regions = grid_regions((300, 400), 4, 4, pad_to_square=True)
    # side 400, offset (50, 0), cells of 100 px: c0 covers square x [0, 100) = original [-50, 50)
    assert GridFrame(300, 400, 4, 4, pad_to_square=True).offset == (50, 0)
    assert regions[0].box == (0.0, 0.0, 50.0, 100.0)
    assert regions[1].box == (50.0, 0.0, 100.0, 100.0)
    assert regions[3].box == (250.0, 0.0, 50.0, 100.0)


@pytest.mark.parametrize("size, rows, cols", [((0, 5), 2, 2), ((5, 5), 0, 2)])
def test_grid_rejects_empty_images_and_grids(size, rows, cols):
    with pytest.raises(ValueError):
        grid_regions(size, rows, cols)


# ---------------------------------------------------------------- boxes and masks


@pytest.mark.parametrize(
    "box, margin, expected",
    [
        ((2, 3, 4, 2), 0, (2, 3, 6, 5)),
        ((2.5, 3.2, 1.0, 1.6), 0, (2, 3, 4, 5)),  # fractional edges round outward
        ((2.0000000001, 3, 3.9999999998, 2), 0, (2, 3, 6, 5)),  # float noise ignored
        ((2, 3, 4, 2), 1, (1, 2, 7, 6)),
        ((1, 1, 2, 2), 3, (0, 0, 6, 6)),  # clipped at the top-left
        ((7, 8, 5, 5), 2, (5, 6, 10, 10)),  # clipped at the bottom-right
        ((3, 3, 0, 4), 2, (0, 0, 0, 0)),  # no width: covers nothing
        ((20, 20, 3, 3), 0, (10, 10, 10, 10)),  # off the image: empty
    ],
)
def test_box_pixel_bounds(box, margin, expected):
    assert box_pixel_bounds(box, (10, 10), margin) == expected


def test_regions_from_boxes_fill_and_clip():
    regions = regions_from_boxes([(1, 1, 2, 3), (4.5, -2, 10, 3)], (6, 5), labels=["cup", "sign"])
    first, second = regions
    expected = np.zeros((5, 6), bool)
    expected[1:4, 1:3] = True
    assert np.array_equal(first.mask, expected)
    assert (first.label, first.id, first.box) == ("cup", 0, (1.0, 1.0, 2.0, 3.0))
    expected = np.zeros((5, 6), bool)
    expected[0:1, 4:6] = True
    assert np.array_equal(second.mask, expected)
    assert second.box == (4.5, 0.0, 1.5, 1.0)
    assert [r.label for r in regions_from_boxes([(0, 0, 1, 1)] * 2, (3, 3))] == ["box_0", "box_1"]


@pytest.mark.parametrize(
    "boxes, labels, message",
    [
        ([(10, 10, 2, 2)], None, "covers no pixel"),
        ([(1, 1, -2, 2)], None, "width, height >= 0"),
        ([(1, 1, 2)], None, "4 finite numbers"),
        ([(1, 1, 2, 2)], ["a", "b"], "labels"),
    ],
)
def test_regions_from_boxes_rejects_bad_input(boxes, labels, message):
    with pytest.raises(ValueError, match=message):
        regions_from_boxes(boxes, (5, 5), labels=labels)


def test_regions_from_masks_derive_or_keep_boxes():
    masks = np.zeros((2, 4, 5), bool)
    masks[0, 1:3, 2:4] = True
    masks[1, 0, 0] = True
    derived = regions_from_masks(masks)
    assert [r.box for r in derived] == [(2.0, 1.0, 2.0, 2.0), (0.0, 0.0, 1.0, 1.0)]
    assert [(r.label, r.id) for r in derived] == [("region_0", 0), ("region_1", 1)]
    given_boxes = regions_from_masks(list(masks), labels=["a", "b"], boxes=[(1, 1, 3, 3), (0, 0, 2, 2)])
    assert [r.box for r in given_boxes] == [(1.0, 1.0, 3.0, 3.0), (0.0, 0.0, 2.0, 2.0)]
    assert [r.label for r in given_boxes] == ["a", "b"]


def test_regions_from_masks_rejects_mixed_sizes_and_empty_masks():
    with pytest.raises(ValueError, match="one size"):
        regions_from_masks([np.ones((3, 3), bool), np.ones((3, 4), bool)])
    with pytest.raises(ValueError, match="empty"):
        regions_from_masks([np.zeros((3, 3), bool)])
    with pytest.raises(ValueError, match="boxes"):
        regions_from_masks([np.ones((3, 3), bool)], boxes=[])


# ---------------------------------------------------------------- COCO


def _square_polygon(x0, y0, x1, y1):
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def test_coco_polygon_compressed_and_uncompressed_rle():
    height, width = 6, 8
    expected = np.zeros((height, width), bool)
    expected[1:4, 2:6] = True
    uncompressed = mask_utils.encode(np.asfortranarray(expected.astype(np.uint8)))
    counts = [len(run) for run in _runs(expected.ravel(order="F"))]
    annotations = [
        {"id": 7, "category_id": 3, "bbox": [2, 1, 4, 3], "segmentation": [_square_polygon(2, 1, 6, 4)]},
        {
            "id": 8,
            "category_id": 1,
            "bbox": [2, 1, 4, 3],
            "iscrowd": 1,
            "segmentation": {"size": [height, width], "counts": counts},
        },
        {
            "id": 9,
            "category_id": 99,
            "segmentation": {"size": [height, width], "counts": uncompressed["counts"]},
            "score": 0.5,
        },
        {"id": 10, "category_id": 3, "segmentation": {"size": [height, width], "counts": encode_mask(expected)}},
    ]
    regions = regions_from_coco(
        annotations, height, width, categories=[{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]
    )
    for region in regions:
        assert np.array_equal(region.mask, expected), region.id
        assert region.box == (2.0, 1.0, 4.0, 3.0)
    assert [r.label for r in regions] == ["car", "person", "99", "car"]
    assert [r.id for r in regions] == [7, 8, 9, 10]
    assert [r.score for r in regions] == [None, None, 0.5, None]


def _runs(flat):
    """Runs of equal values, starting with a (possibly empty) run of zeros."""
    runs, current, value = [], [], False
    for bit in flat:
        if bool(bit) != value:
            runs.append(current)
            current, value = [], bool(bit)
        current.append(bit)
    runs.append(current)
    return runs


def test_coco_category_mapping_forms():
    annotation = {"id": 1, "category_id": 5, "segmentation": [_square_polygon(0, 0, 2, 2)]}
    assert regions_from_coco([annotation], 4, 4, {5: "kite"})[0].label == "kite"
    assert regions_from_coco([annotation], 4, 4, {"5": "kite"})[0].label == "kite"  # JSON keys
    assert regions_from_coco([annotation], 4, 4)[0].label == "5"


def test_coco_box_grows_to_hold_the_mask():
    # COCO's released crowd boxes stop one pixel short of the RLE mask's last column and row
    # (val2017 annotation 900100005001: bbox width 116 for a mask 117 px wide)
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    annotation = {"id": 4, "category_id": 1, "bbox": [1, 1, 2, 2], "segmentation": rle}
    assert regions_from_coco([annotation], 5, 5)[0].box == (1.0, 1.0, 3.0, 3.0)


@pytest.mark.parametrize(
    "segmentation, message",
    [
        ([[1, 1, 3, 1]], "at least 3"),
        ([[1, 1, 3, 1, 3]], "at least 3"),
        ([[1, 1, 3, 1, "x", 3]], "at least 3"),
        ([], "empty polygon"),
        ({"size": [4, 5], "counts": [20]}, "does not match"),
        ({"size": [5, 5], "counts": [3, 4]}, "summing to"),
        ({"size": [5, 5], "counts": "!!not-rle!!"}, "could not decode"),
        ({"size": [5, 5], "counts": 3.5}, "counts must be"),
        ("polygon", "segmentation must be"),
        (None, "segmentation must be"),
    ],
)
def test_coco_malformed_segmentation_names_the_annotation(segmentation, message):
    annotation = {"id": 4242, "category_id": 1, "segmentation": segmentation}
    with pytest.raises(ValueError, match=message) as error:
        regions_from_coco([annotation], 5, 5)
    assert "4242" in str(error.value)


def test_coco_missing_category_and_bad_bbox_are_errors():
    polygon = [_square_polygon(0, 0, 2, 2)]
    with pytest.raises(ValueError, match="id=3 has no 'category_id'"):
        regions_from_coco([{"id": 3, "segmentation": polygon}], 4, 4)
    with pytest.raises(ValueError, match=r"#0 \(no id\)"):
        regions_from_coco([{"category_id": 1, "segmentation": "bad"}], 4, 4)
    with pytest.raises(ValueError, match="id=3 bbox"):
        regions_from_coco([{"id": 3, "category_id": 1, "bbox": [0, 0, "w", 2], "segmentation": polygon}], 4, 4)
    with pytest.raises(ValueError, match="categories must be"):
        regions_from_coco([], 4, 4, categories=[{"name": "no id"}])


def test_coco_regions_on_real_annotations(shared_data):
    path = shared_data / "coco_tiny" / "annotations" / "instances_val2017.json"
    dataset = json.loads(path.read_text())
    coco = COCO()
    coco.dataset = dataset
    coco.createIndex()
    names = {c["id"]: c["name"] for c in dataset["categories"]}
    crowd_seen = 0
    for image in dataset["images"]:
        annotations = coco.imgToAnns[image["id"]]
        regions = regions_from_coco(annotations, image["height"], image["width"], dataset["categories"])
        assert len(regions) == len(annotations)
        for annotation, region in zip(annotations, regions):
            assert region.mask.shape == (image["height"], image["width"])
            assert region.id == annotation["id"]
            assert region.label == names[annotation["category_id"]]
            x0, y0, x1, y1 = box_pixel_bounds(region.box, region.size)
            ys, xs = np.nonzero(region.mask)
            assert xs.min() >= x0 and xs.max() < x1 and ys.min() >= y0 and ys.max() < y1
            assert np.allclose(region.box, annotation["bbox"], atol=1.0)  # at most the 1-px RLE fix
            reference = coco.annToMask(annotation).astype(bool)
            assert np.array_equal(region.mask, reference)
            if annotation["iscrowd"]:
                crowd_seen += 1
                # COCO's crowd areas run larger than their RLE masks (up to ~45% here);
                # the decoded mask must still be a substantial part of it.
                assert 0.5 * annotation["area"] <= region.area <= annotation["area"]
            else:
                # rasterised polygons differ from the polygon area by boundary pixels only
                assert abs(region.area - annotation["area"]) <= 2 * np.sqrt(annotation["area"])
    assert crowd_seen > 0


# ---------------------------------------------------------------- SAM


def _tiny_sam(seed: int = 0):
    """A real `Sam` of tiny dimensions with random weights: 64-px input, one ViT block."""
    import torch
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(seed)
    dim, size = 16, 64
    return Sam(
        image_encoder=ImageEncoderViT(
            img_size=size,
            patch_size=16,
            embed_dim=32,
            depth=1,
            num_heads=2,
            mlp_ratio=2.0,
            out_chans=dim,
            qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=dim, image_embedding_size=(size // 16, size // 16), input_image_size=(size, size), mask_in_chans=4
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=1, embedding_dim=dim, mlp_dim=32, num_heads=2),
            transformer_dim=dim,
            iou_head_depth=2,
            iou_head_hidden_dim=16,
        ),
    ).eval()


@pytest.fixture(scope="module")
def tiny_generator_factory():
    from segment_anything import SamAutomaticMaskGenerator

    sam = _tiny_sam()

    def build(output_mode="binary_mask"):
        # random weights give low quality scores: keep every mask so the filtering is ours
        return SamAutomaticMaskGenerator(
            sam,
            points_per_side=4,
            pred_iou_thresh=-1e9,
            stability_score_thresh=-1.0,
            box_nms_thresh=1.0,
            output_mode=output_mode,
        )

    return build


@pytest.fixture(scope="module")
def small_scene():
    pixels = np.zeros((48, 64, 3), np.uint8)
    pixels[8:30, 5:40] = (200, 30, 30)
    pixels[20:44, 30:60] = (30, 200, 30)
    return pixels


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_sam_regions_from_a_tiny_real_model(tiny_generator_factory, small_scene):
    generator = tiny_generator_factory()
    records = generator.generate(small_scene)
    regions = regions_from_sam(
        small_scene, mask_generator=generator, min_area_fraction=0.02, max_regions=6, duplicate_iou=0.8
    )
    assert 1 <= len(regions) <= 6
    threshold = 0.02 * 48 * 64
    areas = [r.area for r in regions]
    assert areas == sorted(areas, reverse=True)
    assert min(areas) >= threshold
    for k, region in enumerate(regions):
        assert (region.label, region.id) == (f"segment_{k}", k)
        assert region.mask.shape == (48, 64)
        assert region.box == box_of_mask(region.mask)
        assert any(
            np.array_equal(region.mask, r["segmentation"]) and region.score == r["predicted_iou"] for r in records
        )
        for other in regions[:k]:
            assert _iou(region.mask, other.mask) < 0.8
    if len(regions) < 6:  # nothing was cut by the cap: every big mask is kept or a duplicate
        for record in records:
            mask = record["segmentation"]
            if mask.sum() >= threshold:
                assert any(_iou(mask, r.mask) >= 0.8 for r in regions)


def test_sam_accepts_rle_output_and_pil_images(tiny_generator_factory, small_scene):
    expected = regions_from_sam(small_scene, mask_generator=tiny_generator_factory())
    rgba = Image.fromarray(small_scene).convert("RGBA")
    for mode in ("coco_rle", "uncompressed_rle"):
        got = regions_from_sam(rgba, mask_generator=tiny_generator_factory(mode))
        assert len(got) == len(expected) > 0
        assert all(np.array_equal(a.mask, b.mask) for a, b in zip(got, expected))


class _CannedGenerator:
    """Returns fixed SAM-format records, so the selection rules can be checked exactly."""

    def __init__(self, masks, scores):
        self.records = [{"segmentation": m, "predicted_iou": s} for m, s in zip(masks, scores)]

    def generate(self, image):
        assert image.dtype == np.uint8 and image.shape == (10, 10, 3)
        return self.records


def _rect(y0, y1, x0, x1):
    mask = np.zeros((10, 10), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_sam_selection_sorts_deduplicates_drops_and_caps():
    small = _rect(0, 1, 0, 2)  # 2 px < 5% of 100
    medium = _rect(5, 9, 5, 9)  # 16 px
    large = _rect(0, 5, 0, 6)  # 30 px
    near_copy = _rect(0, 5, 0, 5)  # 25 px, IoU 25/30 with large
    mid_2 = _rect(6, 10, 0, 3)  # 12 px
    generator = _CannedGenerator([small, medium, near_copy, large, mid_2], [0.1, 0.2, 0.3, 0.4, 0.5])
    image = np.zeros((10, 10, 3), np.uint8)
    regions = regions_from_sam(image, mask_generator=generator, min_area_fraction=0.05, duplicate_iou=0.8)
    assert [r.area for r in regions] == [30, 16, 12]
    assert [r.score for r in regions] == [0.4, 0.2, 0.5]
    loose = regions_from_sam(image, mask_generator=generator, min_area_fraction=0.05, duplicate_iou=0.9)
    assert [r.area for r in loose] == [30, 25, 16, 12]
    capped = regions_from_sam(image, mask_generator=generator, min_area_fraction=0.0, max_regions=2, duplicate_iou=0.8)
    assert [r.area for r in capped] == [30, 16]


def test_sam_without_weights_says_what_to_download(tmp_path):
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(FileNotFoundError, match=r"sam_vit_b_01ec64\.pth.*checkpoint="):
        regions_from_sam(image)
    with pytest.raises(FileNotFoundError, match="missing or unreadable"):
        regions_from_sam(image, checkpoint=tmp_path / "sam_vit_b.pth")
    with pytest.raises(FileNotFoundError, match="sam_vit_l_0b3195"):
        regions_from_sam(image, checkpoint=tmp_path, model_type="vit_l")  # a folder is no checkpoint


def test_sam_rejects_bad_checkpoints_and_settings(tmp_path, tiny_generator_factory):
    image = np.zeros((8, 8, 3), np.uint8)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not be loaded"):
        regions_from_sam(image, checkpoint=broken)
    with pytest.raises(ValueError, match="vit_b"):
        regions_from_sam(image, checkpoint=broken, model_type="vit_x")
    with pytest.raises(ValueError, match="not both"):
        regions_from_sam(image, checkpoint=broken, mask_generator=tiny_generator_factory())
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        regions_from_sam(np.zeros((8, 8), np.uint8), mask_generator=tiny_generator_factory())
    for bad in ({"min_area_fraction": 1.0}, {"max_regions": 0}, {"duplicate_iou": 0.0}):
        with pytest.raises(ValueError):
            regions_from_sam(image, mask_generator=tiny_generator_factory(), **bad)


def test_region_is_still_validated():
    with pytest.raises(ValueError, match="2-D"):
        Region(label="x", mask=np.zeros((2, 2, 2), bool), box=(0, 0, 1, 1))
