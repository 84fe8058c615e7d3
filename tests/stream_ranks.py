"""Child script for tests/test_data.py: under torchrun, each rank streams generated scenes through a 2-worker
DataLoader and writes the scene indices it saw to <out>/rank<r>.json."""
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from scenenb.data.datasets import GeneratedObjects

if __name__ == "__main__":
    out = Path(sys.argv[1])
    dist.init_process_group("gloo")
    stream = GeneratedObjects("tetrominoes", seed=0, num_scenes=64, block_size=8)
    loader = torch.utils.data.DataLoader(stream, batch_size=4, num_workers=2)
    seen = [int(i) for batch in loader for i in batch["index"]]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank{dist.get_rank()}.json").write_text(json.dumps(seen))
    dist.destroy_process_group()
