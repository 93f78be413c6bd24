"""IPS outcomes: the published analyses rerun on a synthetic cohort or a trust's extract (README.md)."""
import os

# One BLAS thread unless the user has set another number, fixed here because OpenBLAS reads it when numpy
# first loads. The products here are too small to share out: on a 2-core machine OpenBLAS's second thread
# spun 17 s of CPU in a 33 s million-person run for no gain in wall time, on the core the missing-data
# step runs on (--jobs). A fixed count also keeps the last digits of a result from depending on how many
# cores the machine has: OpenBLAS splits some sums by thread.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
