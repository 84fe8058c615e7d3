"""Conversion throughput of real-format files into the scenenb layout, on this machine.

    python benchmarks/convert_throughput.py [--gqn-records 400] [--mo-records 1000]

Writes a GQN-like folder (rooms_ring_camera: 4 shards of 10 JPEG frames per record) and a Multi-Object-like GZIP file
(multi_dsprites_colored_on_grayscale: one byte per pixel-channel entry) in exactly the real formats, converts each with
1 and 2 worker processes, and prints records/s and MB/s of source payload. Start-up of the worker processes (~3 s each,
importing torch) is included, so small files understate the steady rate."""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from scenenb.data.convert import SPECS, convert
from scenenb.data.tfrecord import write_records

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_convert import gqn_record, mo_record  # the record writers of the round-trip tests: the real formats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gqn-records", type=int, default=400)
    ap.add_argument("--mo-records", type=int, default=1000)
    args = ap.parse_args()
    rng, root = np.random.default_rng(0), Path(tempfile.mkdtemp())
    gqn = [gqn_record(SPECS["rooms_ring_camera"], rng)[0] for _ in range(args.gqn_records)]
    per = len(gqn) // 4
    for i in range(4): write_records(root / f"rooms_ring_camera/train/{i + 1}-of-4.tfrecord", gqn[i * per:(i + 1) * per])
    mo = [mo_record(SPECS["multi_dsprites_colored_on_grayscale"], rng)[0] for _ in range(args.mo_records)]
    write_records(root / "mds.tfrecords", mo, compression="GZIP")
    rows = ["| source | records | workers | records/s | MB/s (payload) |", "|---|---|---|---|---|"]
    for name, src, payloads in (("rooms_ring_camera", root, gqn[:per * 4]),
                                ("multi_dsprites_colored_on_grayscale", root / "mds.tfrecords", mo)):
        for workers in (1, 2):
            t = time.perf_counter()
            r = convert(name, src, out=root / f"out/{name}-{workers}.h5", workers=workers, progress=False, overwrite=True)
            dt = time.perf_counter() - t
            rows.append(f"| {name} | {r.num_scenes} | {workers} | {r.num_scenes / dt:,.0f} | {sum(map(len, payloads)) / dt / 1e6:,.1f} |")
            print(rows[-1], flush=True)
    print("\n" + "\n".join(rows))


if __name__ == "__main__":
    main()
