"""`TryOnDataset`: a VITON-HD-layout folder as a ``torch.utils.data.Dataset`` of model tensors.

Items are `vton.tensors.pair_to_tensors` dicts (unbatched tensors keyed like
`TryOnBatch` fields, ground truth when the folder has it); batch them with
`vton.tensors.collate`:

    >>> data = TryOnDataset("data/synth", "train", size=(256, 192))
    >>> loader = DataLoader(data, batch_size=8, shuffle=True, collate_fn=collate)
    >>> batch = next(iter(loader)); batch.person.shape
    torch.Size([8, 3, 256, 192])
"""
from __future__ import annotations

import os

import torch
from torch.utils.data import Dataset

from vton.data.vitonhd import VitonHD
from vton.tensors import collate, pair_to_tensors
from vton.types import DEFAULT_SIZE, DensePoseEncoding, Size

__all__ = ["TryOnDataset", "collate"]


class TryOnDataset(Dataset):
    """Tensors of the pairs of one split; the `VitonHD` reader is ``self.reader``.

    Args:
        root, split, size, paired: as `VitonHD`.
        densepose_encoding: the encoding of the ``densepose`` tensors (the warper's); default: the
            encoding the folder's DensePose files are in (`VitonHD.densepose_encoding`). Settable.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", size: Size = DEFAULT_SIZE, paired: bool = True,
                 densepose_encoding: DensePoseEncoding | str | None = None):
        self.reader = VitonHD(root, split, size=size, paired=paired)
        self.densepose_encoding = (self.reader.densepose_encoding if densepose_encoding is None
                                   else DensePoseEncoding(densepose_encoding))

    @property
    def size(self) -> Size:
        return self.reader.size

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return pair_to_tensors(self.reader[index], self.densepose_encoding)
