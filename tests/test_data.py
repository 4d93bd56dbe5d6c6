"""Bad-input cases of the dataset loaders (percep_lib.data): every file is converted correctly, or skipped, counted
and warned about when the dataset is built, or reported by an error that names it. Also: synthetic datasets give
the same samples in any DataLoader worker and order."""
import io, json, struct, zipfile, zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from percep_lib.data.photos import BUNDLED_PHOTOS, PhotoCrops, bundled_photo
from percep_lib.data.files import BadInputWarning, CocoCaptions, ImageFolderDataset, UnreadableImage, VideoFramesDataset
from percep_lib.data.shapes import MovingShapesDataset, ShapesDataset

SIZE = 32


def write_png16(path, a):
    "Write a 16-bit PNG (gray, RGB or RGBA from the last axis) without any imaging library."
    h, w, c = a.shape
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 3: 2, 4: 6}[c], 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def noise_jpeg(size=(64, 64), seed=0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, size[::-1] + (3,), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


GOOD = ["good.png", "good.jpg", "gray.png", "rgba.png", "gray16.png", "rgb16.png", "palette_t.png", "cmyk.jpg"]
BAD = {"corrupt.jpg": "unreadable", "garbage.png": "unreadable", "empty.jpg": "unreadable",
       "small.png": "too small", "float.tif": "unsupported mode F"}


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    "A folder and a zip holding good images in every mode, and bad files of every kind."
    d = tmp_path_factory.mktemp("messy")
    Image.new("RGB", (64, 48), (200, 10, 10)).save(d / "good.png")
    (d / "good.jpg").write_bytes(noise_jpeg())
    Image.new("L", (40, 40), 77).save(d / "gray.png")
    rgba = Image.new("RGBA", (40, 40), (0, 0, 255, 255)); rgba.paste((255, 0, 0, 0), (0, 0, 40, 20))  # top half transparent
    rgba.save(d / "rgba.png")
    write_png16(d / "gray16.png", np.full((40, 40, 1), 65535 // 4, np.uint16))  # a quarter of full scale
    write_png16(d / "rgb16.png", np.stack([np.full((40, 40), v, np.uint16) for v in (65535, 32768, 0)], -1))
    p = Image.new("P", (40, 40), 0); p.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762); p.info["transparency"] = 0
    p.save(d / "palette_t.png", transparency=0)
    Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(d / "cmyk.jpg")  # red in CMYK
    (d / "corrupt.jpg").write_bytes(noise_jpeg(seed=1)[:1500])  # truncated mid-stream
    (d / "garbage.png").write_bytes(b"this is not a png" * 10)
    (d / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (16, 16), (0, 255, 0)).save(d / "small.png")
    Image.new("F", (40, 40), 0.5).save(d / "float.tif")
    (d / "readme.txt").write_text("not an image, not listed")
    z = d.parent / "messy.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted(d.iterdir()): zf.write(f, f"imgs/{f.name}")
    return d, z


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PERCEP_PATHS_CACHE", str(tmp_path / "cache"))


def check_tensor(x):
    assert x.shape == (3, SIZE, SIZE) and x.dtype == torch.float32
    assert torch.isfinite(x).all() and x.min() >= -1 and x.max() <= 1


def mean_rgb(x):
    return ((x.mean((1, 2)) + 1) * 127.5).tolist()


@pytest.mark.parametrize("which", ["folder", "zip"])
def test_messy_folder_decode(messy, which):
    root = messy[0] if which == "folder" else messy[1]
    with pytest.warns(BadInputWarning) as rec:
        ds = ImageFolderDataset(root, size=SIZE, verify="decode")
    msg = str(rec[0].message)
    assert f"skipped {len(BAD)} file(s)" in msg and "converted" in msg
    names = {Path(n).name for n in ds.files}
    assert names == set(GOOD)
    assert {Path(n).name: r.split(" (")[0].split(":")[0] for n, r in ds.skipped.items()} == \
        {k: v.split(":")[0] if v != "unsupported mode F" else v for k, v in BAD.items()}
    assert ds.converted == {"L": 1, "RGBA": 1, "I;16": 1, "P": 1, "CMYK": 1}
    by = {Path(ds[i]["path"]).name: ds[i]["image"] for i in range(len(ds))}
    for x in by.values(): check_tensor(x)
    np.testing.assert_allclose(mean_rgb(by["gray.png"]), [77] * 3, atol=0.01)
    np.testing.assert_allclose(mean_rgb(by["gray16.png"]), [64] * 3, atol=0.01)  # 16383/257 = 63.7 -> 64, not clipped to 255
    np.testing.assert_allclose(mean_rgb(by["rgb16.png"]), [255, 128, 0], atol=0.01)
    top, bottom = ((by["rgba.png"][:, :8] + 1) * 127.5), ((by["rgba.png"][:, -8:] + 1) * 127.5)
    assert top.mean((1, 2)).round().tolist() == [255, 255, 255]  # transparent -> white background, not red
    assert bottom.mean((1, 2)).round().tolist() == [0, 0, 255]
    assert mean_rgb(by["palette_t.png"])[0] > 250  # index 0 (black) is transparent: white, not black
    r, g, b = mean_rgb(by["cmyk.jpg"])
    assert r > 240 and g < 15 and b < 15


def test_header_check_then_clear_error_in_worker(messy):
    with pytest.warns(BadInputWarning):
        ds = ImageFolderDataset(messy[1], size=SIZE, verify="header")
    assert "imgs/corrupt.jpg" in ds.files  # the header is fine, the data is not
    i = ds.files.index("imgs/corrupt.jpg")
    with pytest.raises(UnreadableImage, match="corrupt.jpg"):
        ds[i]
    loader = DataLoader(torch.utils.data.Subset(ds, [i]), batch_size=1, num_workers=1)
    with pytest.raises(UnreadableImage, match="corrupt.jpg.*verify='decode'"):
        next(iter(loader))


def test_dataloader_workers_over_zip(messy):
    with pytest.warns(BadInputWarning):
        ds = ImageFolderDataset(messy[1], size=SIZE)
    batches = list(DataLoader(ds, batch_size=3, num_workers=2))
    x = torch.cat([b["image"] for b in batches])
    assert x.shape == (len(GOOD), 3, SIZE, SIZE)
    assert torch.equal(x, torch.stack([ds[i]["image"] for i in range(len(ds))]))


def test_upscale_keeps_small_images(messy):
    with pytest.warns(BadInputWarning) as rec:
        ds = ImageFolderDataset(messy[0], size=SIZE, upscale=True)
    assert "small.png" in ds.files and "small.png" not in ds.skipped
    assert "too small" not in str(rec[0].message)
    check_tensor(ds[ds.files.index("small.png")]["image"])


def test_check_is_cached(messy, tmp_path):
    with pytest.warns(BadInputWarning):
        a = ImageFolderDataset(messy[0], size=SIZE)
    cached = list((tmp_path / "cache" / "image_checks").glob("*.json"))
    assert len(cached) == 1
    with pytest.warns(BadInputWarning):  # the warning is repeated from the cached outcome
        b = ImageFolderDataset(messy[0], size=SIZE)
    assert (a.files, a.skipped, a.converted) == (b.files, b.skipped, b.converted)


def test_all_bad_is_a_clear_error(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"junk")
    with pytest.warns(BadInputWarning), pytest.raises(ValueError, match="no usable images"):
        ImageFolderDataset(tmp_path, size=SIZE)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolderDataset(tmp_path / "nope", size=SIZE)


def test_video_with_bad_frame_is_skipped(tmp_path):
    for v in ("a", "b", "c"):
        (tmp_path / v).mkdir()
        for f in range(6): Image.new("RGB", (40, 40), (f * 40, 0, 0)).save(tmp_path / v / f"{f:03d}.png")
    (tmp_path / "b" / "003.png").write_bytes(b"broken")
    Image.new("I;16", (40, 40)).save(tmp_path / "c" / "001.png")  # a 16-bit gray frame is converted, not skipped
    with pytest.warns(BadInputWarning, match="bad frame"):
        ds = VideoFramesDataset(tmp_path, size=SIZE, frames=4, clip_step=2)
    assert [n for n, _ in ds.videos] == ["a", "c"] and list(ds.skipped) == ["b"]
    assert len(ds) == 4 and ds[0]["video"].shape == (3, 4, SIZE, SIZE)
    assert ds[1]["start"] == 2


def test_coco_missing_and_corrupt(tmp_path):
    (tmp_path / "val2014").mkdir(); (tmp_path / "annotations").mkdir()
    imgs = [dict(id=k, file_name=f"COCO_val2014_{k:012d}.jpg") for k in range(5)]
    anns = [dict(image_id=k, caption=f"caption {k}") for k in range(5)]
    (tmp_path / "annotations" / "captions_val2014.json").write_text(json.dumps(dict(images=imgs, annotations=anns)))
    for k in range(4): (tmp_path / "val2014" / imgs[k]["file_name"]).write_bytes(noise_jpeg(seed=k))
    (tmp_path / "val2014" / imgs[2]["file_name"]).write_bytes(b"")  # corrupt; image 4 is missing
    with pytest.warns(BadInputWarning, match="skipped 2"):
        coco = CocoCaptions(tmp_path, size=SIZE, n=5)
    assert coco.captions == ["caption 0", "caption 1", "caption 3"]
    check_tensor(coco[2]["image"])


def test_synthetic_same_in_any_worker_and_order():
    ds = ShapesDataset(64, size=16, seed=5)
    b = list(DataLoader(ds, batch_size=8, shuffle=True, num_workers=2, generator=torch.Generator().manual_seed(0)))
    idx = torch.cat([x["index"] for x in b]); imgs = torch.cat([x["image"] for x in b])
    assert torch.equal(imgs, torch.stack([ds[int(i)]["image"] for i in idx]))
    v = MovingShapesDataset(6, frames=4, size=16, seed=1)
    vb = next(iter(DataLoader(v, batch_size=6, num_workers=2)))
    assert torch.equal(vb["video"][4], v[4]["video"])


# -- EXIF orientation -------------------------------------------------------------------------------------------

def tagged_jpeg(orientation, w=48, h=32) -> bytes:
    "A landscape JPEG, black with a red top-left quadrant, carrying an EXIF Orientation tag."
    a = np.zeros((h, w, 3), np.uint8); a[: h // 2, : w // 2] = (255, 0, 0)
    exif = Image.Exif(); exif[0x0112] = orientation
    buf = io.BytesIO(); Image.fromarray(a).save(buf, "JPEG", quality=95, exif=exif)
    return buf.getvalue()


def red_quadrants(a):
    "Which quadrants of a (3, H, W) tensor in [-1, 1] or an (H, W, 3) uint8 array are red: [[TL, TR], [BL, BR]]."
    a = np.asarray(((a + 1) * 127.5).permute(1, 2, 0)) if isinstance(a, torch.Tensor) else np.asarray(a)
    h, w = a.shape[0] // 2, a.shape[1] // 2
    return [[bool(a[y * h:(y + 1) * h, x * w:(x + 1) * w, 0].mean() > 128) for x in (0, 1)] for y in (0, 1)]


# the red top-left quadrant of the stored pixels, once the tag is applied; 48x32 stored, a centre crop of 32 keeps
# all four quadrants whether the upright image is landscape or portrait
UPRIGHT = {1: [[True, False], [False, False]],  # as stored
           3: [[False, False], [False, True]],  # 180 degrees
           6: [[False, True], [False, False]],  # stored 90 degrees anticlockwise: turn 90 clockwise to view
           8: [[False, False], [True, False]]}  # turn 90 anticlockwise to view


@pytest.mark.parametrize("orientation", sorted(UPRIGHT))
def test_exif_orientation_in_every_loader(tmp_path, monkeypatch, orientation):
    jpg, want = tagged_jpeg(orientation), UPRIGHT[orientation]
    (tmp_path / "imgs").mkdir(); (tmp_path / "imgs" / "photo.jpg").write_bytes(jpg)
    with zipfile.ZipFile(tmp_path / "imgs.zip", "w") as z: z.writestr("photo.jpg", jpg)
    for root in (tmp_path / "imgs", tmp_path / "imgs.zip"):
        assert red_quadrants(ImageFolderDataset(root, size=SIZE)[0]["image"]) == want, root.name
    coco = tmp_path / "coco"; (coco / "val2014").mkdir(parents=True); (coco / "annotations").mkdir()
    (coco / "annotations" / "captions_val2014.json").write_text(json.dumps(dict(
        images=[dict(id=1, file_name="COCO_val2014_000000000001.jpg")], annotations=[dict(image_id=1, caption="a photo")])))
    (coco / "val2014" / "COCO_val2014_000000000001.jpg").write_bytes(jpg)
    assert red_quadrants(CocoCaptions(coco, size=SIZE, n=1)[0]["image"]) == want
    (tmp_path / "video" / "v").mkdir(parents=True)
    for f in range(3): (tmp_path / "video" / "v" / f"{f}.jpg").write_bytes(jpg)
    clip = VideoFramesDataset(tmp_path / "video", size=SIZE, frames=3)[0]["video"]
    assert all(red_quadrants(clip[:, f]) == want for f in range(3))
    pkg = tmp_path / "site" / "tagged_photos"; pkg.mkdir(parents=True)  # a package shipping a tagged photo
    (pkg / "__init__.py").write_text(""); (pkg / "photo.jpg").write_bytes(jpg)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(BUNDLED_PHOTOS, "tagged", ("tagged_photos", "photo.jpg"))
    im = bundled_photo("tagged")
    assert im.size == ((32, 48) if orientation in (6, 8) else (48, 32)) and red_quadrants(im) == want
    assert PhotoCrops(4, size=SIZE, photos=("tagged",))._images[0].size == im.size


def test_a_damaged_cache_entry_is_named_and_checked_again(messy, tmp_path):
    with pytest.warns(BadInputWarning):
        a = ImageFolderDataset(messy[0], size=SIZE)
    (entry,) = (tmp_path / "cache" / "image_checks").glob("*.json")
    entry.write_text('{"good": ["x.png"], "skip')  # a write cut short
    with pytest.warns(BadInputWarning, match=f"{entry}: damaged image-check cache entry"):
        b = ImageFolderDataset(messy[0], size=SIZE)
    assert (a.files, sorted(a.skipped)) == (b.files, sorted(b.skipped))
    assert json.loads(entry.read_text())["good"] == a.files, "rewritten whole"
