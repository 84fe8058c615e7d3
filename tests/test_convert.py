"""Converters of the real DeepMind datasets (scenenb.data.convert), end to end on small files written in exactly the real
formats: worker processes, resume after an interruption, corrupt records (payload, length, truncation, missing feature)."""
import io
import json

import h5py
import numpy as np
import pytest
from PIL import Image

from scenenb.data.convert import SPECS, convert, part_path, prepare_parts
from scenenb.data.datasets import GQNScenes, ObjectsDataset
from scenenb.data.formats import validate
from scenenb.data.tfrecord import TFRecordError, make_example, write_records


def _bytes(a): return ("bytes", [bytes([v]) for v in np.asarray(a, np.uint8).ravel()])


def mo_record(spec, rng):
    h, w, e, c = spec.height, spec.width, spec.entities, spec.channels
    labels = rng.integers(0, e, (h, w))
    m = (np.arange(e)[:, None, None] == labels).astype(np.uint8) * 255
    feats = dict(image=_bytes(rng.integers(0, 256, (h, w, c))), mask=_bytes(m.transpose(1, 2, 0) if spec.mask_layout == "HWE" else m))
    for name, kind, trail in spec.factors:
        v = rng.random((e, *trail)) if kind == "float" else rng.integers(0, 4, (e, *trail))
        if name == "visibility": v = (m.reshape(e, -1).max(1) > 0).astype(np.float32)
        feats[name] = ("float", v.ravel().astype(np.float32)) if kind == "float" else _bytes(v)
    image = np.frombuffer(b"".join(feats["image"][1]), np.uint8).reshape(h, w, c)
    return make_example(feats), labels, image, feats


def jpeg(a):
    b = io.BytesIO(); Image.fromarray(a).save(b, format="JPEG", quality=85); return b.getvalue()


def gqn_record(spec, rng):
    frames = [jpeg(rng.integers(0, 256, (spec.height, spec.width, 3), dtype=np.uint8)) for _ in range(spec.views)]
    cams = rng.normal(size=(spec.views, 5)).astype(np.float32)
    return make_example(dict(frames=("bytes", frames), cameras=("float", cams.ravel()))), frames, cams


def decoded(frame): return np.asarray(Image.open(io.BytesIO(frame)).convert("RGB"))


@pytest.fixture(scope="module")
def gqn_source(tmp_path_factory):
    root, rng = tmp_path_factory.mktemp("gqn"), np.random.default_rng(1)
    spec = SPECS["rooms_ring_camera"]
    shards = {}
    for i in (1, 2, 10):  # numerical order: 1, 2, 10 (not 1, 10, 2)
        shards[i] = [gqn_record(spec, rng) for _ in range(i % 4 + 1)]
        write_records(root / f"rooms_ring_camera/train/{i}-of-10.tfrecord", [r[0] for r in shards[i]])
    return root, [r for i in (1, 2, 10) for r in shards[i]]


@pytest.mark.parametrize("name", ["multi_dsprites_colored_on_grayscale", "clevr_with_masks", "objects_room"])
def test_multi_object_round_trip(tmp_path, name):
    spec, rng = SPECS[name], np.random.default_rng(2)
    if name == "clevr_with_masks":  # the real shapes, few records (a CLEVR record is ~3 MB as one-byte entries)
        n = 3
    else: n = 25
    recs = [mo_record(spec, rng) for _ in range(n)]
    src = tmp_path / f"{name}_train.tfrecords"
    write_records(src, [r[0] for r in recs], compression="GZIP")
    workers = 2 if name.startswith("multi_dsprites") else 1  # spawning workers costs ~3 s; one parallel case is enough
    rep = convert(name, src, out=tmp_path / "out" / name / "train.h5", workers=workers, progress=False)
    assert rep.num_scenes == n and rep.skipped == []
    assert validate(rep.path, deep=True) == []
    with h5py.File(rep.path) as f:
        np.testing.assert_array_equal(f["masks"][:, 0], np.stack([r[1] for r in recs]))
        np.testing.assert_array_equal(f["images"][:, 0], np.stack([r[2] for r in recs]))
        for fname, kind, trail in spec.factors:
            want = np.stack([np.asarray(r[3][fname][1] if kind == "float" else np.frombuffer(b"".join(r[3][fname][1]), np.uint8))
                             for r in recs]).reshape(n, spec.entities, *trail)
            np.testing.assert_array_equal(f[f"factors/{fname}"][:], want)
        assert f.attrs["background_entities"] == spec.background_entities
    ds = ObjectsDataset(rep.path, one_hot_masks=True)
    assert ds[n - 1]["masks"].shape[0] == spec.entities


def test_gqn_round_trip_in_processes(tmp_path, gqn_source):
    root, recs = gqn_source
    rep = convert("rooms_ring_camera", root, out=tmp_path / "rr/train.h5", workers=2, progress=False)
    assert rep.num_scenes == len(recs) and validate(rep.path, deep=True) == []
    with h5py.File(rep.path) as f:
        for i, (_, frames, cams) in enumerate(recs):
            np.testing.assert_array_equal(f["cameras"][i], cams)
            np.testing.assert_array_equal(f["images"][i], np.stack([decoded(x) for x in frames]))
        assert json.loads(f.attrs["source_files"])[-1] == "rooms_ring_camera/train/10-of-10.tfrecord"
        assert len(json.loads(f.attrs["source_sha256"])) == 3
    batch = GQNScenes(rep.path).context_query(3)([GQNScenes(rep.path)[i] for i in range(2)])
    assert batch["query_pose"].shape == (2, 7)


def test_resume_skips_finished_parts(tmp_path, gqn_source):
    root, recs = gqn_source
    out = tmp_path / "rr/train.h5"
    full = convert("rooms_ring_camera", root, out=tmp_path / "full.h5", workers=1, progress=False)
    # an interrupted run: part 1 finished, part 0 half-written (a temporary file), no output
    parts = out.with_name("train.h5.parts")
    (tmp_path / "full.h5").unlink()
    from scenenb.data import convert as C
    spec = SPECS["rooms_ring_camera"]
    shard = root / "rooms_ring_camera/train/2-of-10.tfrecord"
    meta = C._start_meta(spec, "train", C.gqn_shards(root, "rooms_ring_camera", "train"), root, 1.0)
    prepare_parts(parts, meta, False)
    C._gqn_task(("rooms_ring_camera", str(shard), str(part_path(parts, 1)), False, "rooms_ring_camera/train/2-of-10.tfrecord"))
    (parts / ".block-0000000.h5.tmp-1-dead").write_bytes(b"half")
    before = part_path(parts, 1).stat().st_mtime_ns
    rep = convert("rooms_ring_camera", root, out=out, workers=1, progress=False)
    assert rep.num_scenes == len(recs) and not parts.exists()
    with h5py.File(out) as f: np.testing.assert_array_equal(f["cameras"][:, 0], np.stack([r[2][0] for r in recs]))
    assert convert("rooms_ring_camera", root, out=out, progress=False).num_scenes == len(recs)  # done: returns at once
    with pytest.raises(FileExistsError): convert("rooms_ring_camera", root, out=out, fraction=0.5, progress=False)


def _corrupt_folder(tmp_path, gqn_source, how):
    root, recs = gqn_source
    dst = tmp_path / "src"
    import shutil; shutil.copytree(root, dst)
    shard = dst / "rooms_ring_camera/train/2-of-10.tfrecord"  # 3 records
    data = bytearray(shard.read_bytes())
    first = int.from_bytes(data[:8], "little")
    off1 = 16 + first
    if how == "payload": data[off1 + 12 + 40] ^= 0xFF
    elif how == "length": data[off1 + 2] ^= 0x01
    elif how == "truncate": data = data[:len(data) - 30]
    shard.write_bytes(bytes(data))
    return dst, off1


@pytest.mark.parametrize("how, skipped", [("payload", [1]), ("length", [1]), ("truncate", [2])])
def test_corrupt_records(tmp_path, gqn_source, how, skipped):
    src, off1 = _corrupt_folder(tmp_path, gqn_source, how)
    with pytest.raises(TFRecordError, match="2-of-10.tfrecord"):
        convert("rooms_ring_camera", src, out=tmp_path / "a.h5", workers=1, progress=False)
    rep = convert("rooms_ring_camera", src, out=tmp_path / "b.h5", workers=1, progress=False, skip_corrupt=True, overwrite=True)
    total = len(gqn_source[1])
    lost = 2 if how == "length" else 1  # after a bad length the shard's remaining records cannot be framed
    assert [s[1] for s in rep.skipped] == skipped and rep.skipped[0][0] == "rooms_ring_camera/train/2-of-10.tfrecord"
    assert rep.num_scenes == total - lost
    if how != "truncate": assert rep.skipped[0][2] == off1
    assert validate(rep.path, deep=True) == []
    with h5py.File(rep.path) as f: assert f.attrs["skipped_records"] == 1


def test_missing_feature_and_bad_jpeg(tmp_path):
    spec, rng = SPECS["rooms_ring_camera"], np.random.default_rng(3)
    good = [gqn_record(spec, rng)[0] for _ in range(3)]
    rec, frames, cams = gqn_record(spec, rng)
    good[1] = make_example(dict(frames=("bytes", frames)))                       # dropped 'cameras'
    good.append(make_example(dict(frames=("bytes", [b"not a jpeg"] * 10), cameras=("float", cams.ravel()))))
    write_records(tmp_path / "src/rooms_ring_camera/test/1-of-1.tfrecord", good)
    with pytest.raises(ValueError, match=r"1-of-1.tfrecord record 1 at offset \d+: feature 'cameras' is missing"):
        convert("rooms_ring_camera", tmp_path / "src", split="test", out=tmp_path / "a.h5", workers=1, progress=False)
    rep = convert("rooms_ring_camera", tmp_path / "src", split="test", out=tmp_path / "b.h5", workers=1, progress=False, skip_corrupt=True)
    assert rep.num_scenes == 2 and [s[1] for s in rep.skipped] == [1, 3] and "JPEG" in rep.skipped[1][3]


def test_scenenb_data_convert_command(tmp_path, child_env):
    "The command a user runs: `scenenb data convert tetrominoes <file> --out DIR` on a GZIP file in the real format."
    import subprocess
    from conftest import BIN
    spec, rng = SPECS["tetrominoes"], np.random.default_rng(5)
    records = [mo_record(spec, rng) for _ in range(5)]
    source = tmp_path / "tetrominoes_train.tfrecords"
    write_records(source, [r[0] for r in records], compression="GZIP")
    r = subprocess.run([str(BIN / "scenenb"), "data", "convert", "tetrominoes", str(source), "--out", str(tmp_path / "out"),
                        "--workers", "1", "--quiet"], capture_output=True, text=True, env=child_env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / "out" / "tetrominoes" / "train.h5"
    assert f"{out}: 5 scenes" in r.stdout and "0 corrupt record(s) skipped" in r.stdout, r.stdout
    assert validate(out, deep=True) == []
    ds = ObjectsDataset(out)
    assert len(ds) == 5 and np.array_equal(ds[3]["mask"].numpy(), records[3][1])
