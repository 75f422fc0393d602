"""``nncodec batch``: a whole collection of models coded into a mirror of it (one container per
model and a manifest), with identical tensors stored once and fine-tunes coded against a base
found in the collection, on a local process pool or a Ray cluster; and restored, byte for byte.

    from nncodec.batch import BatchSettings, restore_batch, run_batch
    report = run_batch("models/", "models.nnz/", BatchSettings(workers=2))
    restore_batch("models.nnz/", "restored/")
"""

from .run import BatchReport, BatchSettings, restore_batch, run_batch

__all__ = ["BatchSettings", "BatchReport", "run_batch", "restore_batch"]
