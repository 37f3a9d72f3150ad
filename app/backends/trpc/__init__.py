"""The trpc:// hub: the ranks of a torch.distributed job (torchrun, srun), gloo underneath."""
