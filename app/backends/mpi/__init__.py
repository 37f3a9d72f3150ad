"""The mpi:// hub: frames between the ranks of an MPI job (mpi4py over Open MPI)."""
