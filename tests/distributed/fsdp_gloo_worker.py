"""Worker for tests/training/test_fsdp_cpu.py (run under torchrun): FSDP2 (`fully_shard`, one unit per `WhisperGPTBlock` as
in configs/accelerate/fsdp.yaml) of the tiny model on CPU processes over gloo, a few AdamW steps on per-rank data,
then the full (gathered) state dict saved with `save_pretrained` by rank 0. Writes `gathered-RANK.safetensors`."""

import os
import sys

import torch
import torch.distributed as dist
from safetensors.torch import save_file
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.fsdp import fully_shard

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import tiny_model  # noqa: E402

from whisper_gpt_hf.modeling.modeling_whisper_gpt import WhisperGPTBlock  # noqa: E402


def main(out: str, steps: int) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    model = tiny_model(seed=0).train()
    for module in model.modules():
        if isinstance(module, WhisperGPTBlock):
            fully_shard(module)
    fully_shard(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(rank)  # each rank its own batch: data parallel
    for _ in range(steps):
        ids = torch.randint(0, 64, (2, 24), generator=g)
        loss = model(input_ids=ids, input_features=torch.randn(2, 24, 16, generator=g), labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    local = sum(p.to_local().numel() for p in model.parameters())  # this rank's shard only
    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))  # gathered on every rank
    save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(out, f"gathered-{rank}.safetensors"))
    with open(os.path.join(out, f"local-{rank}.txt"), "w") as f:
        f.write(str(local))
    if rank == 0:
        model.save_pretrained(os.path.join(out, "model"), state_dict=state)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
