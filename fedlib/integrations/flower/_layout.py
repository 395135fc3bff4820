"""Flat vectors from Flower ArrayRecords and back: the (n, d) matrix fedlib's rules and attacks work on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from flwr.app import Array, ArrayRecord

from ...errors import InputError, InputTypeError


def _is_floating(dtype: str) -> bool:
    kind = np.dtype(dtype).kind
    if kind == "c":
        raise InputTypeError(f"complex arrays cannot be aggregated by fedlib's rules; found dtype {dtype}.")
    return kind == "f"


@dataclass(frozen=True)
class ArrayLayout:
    """The layout of a model's ArrayRecord: key order, shapes and dtypes of every array.

    ``flatten`` concatenates the *floating* arrays of a record, in this layout's key order (the order of
    the record the layout was taken from, e.g. a PyTorch ``state_dict``), into one vector of length
    ``d``; every array is checked against the layout first, so a reply with other keys, shapes or dtypes
    fails loudly instead of being mis-aligned. Arrays of other kinds (integer counters such as BatchNorm's
    ``num_batches_tracked``) are not aggregated: ``unflatten`` copies them from a reference record.

    The vector's dtype is float64 when any floating array is float64, else float32 (fedlib's rules take
    float32 or float64); ``unflatten`` casts each array back to its own dtype, so
    ``unflatten(flatten(r), like=r)`` reproduces ``r`` exactly.

    Example:
        >>> import numpy as np
        >>> from flwr.app import Array, ArrayRecord
        >>> from fedlib.integrations.flower import ArrayLayout
        >>> rec = ArrayRecord({"w": Array(np.ones((2, 2), np.float32)), "steps": Array(np.array([3]))})
        >>> layout = ArrayLayout.of(rec)
        >>> layout.d, layout.flatten(rec)
        (4, tensor([1., 1., 1., 1.]))
        >>> back = layout.unflatten(layout.flatten(rec) * 2, like=rec)
        >>> back["w"].numpy().tolist(), back["steps"].numpy().tolist()
        ([[2.0, 2.0], [2.0, 2.0]], [3])
    """

    keys: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[str, ...]
    floating: tuple[bool, ...]

    @classmethod
    def of(cls, record: ArrayRecord) -> ArrayLayout:
        """The layout of ``record`` (usually the global model the server sends out)."""
        if not isinstance(record, ArrayRecord):
            raise InputTypeError(f"expected a flwr ArrayRecord; found {type(record).__name__}.")
        if len(record) == 0:
            raise InputError("the ArrayRecord holds no arrays; there is nothing to aggregate.")
        keys = tuple(record.keys())
        dtypes = tuple(str(record[k].dtype) for k in keys)
        floating = tuple(_is_floating(dt) for dt in dtypes)
        if not any(floating):
            raise InputError(f"the ArrayRecord holds no floating arrays (dtypes {sorted(set(dtypes))}).")
        return cls(keys, tuple(tuple(record[k].shape) for k in keys), dtypes, floating)

    @property
    def numels(self) -> tuple[int, ...]:
        """Number of entries of each floating array, in key order."""
        return tuple(int(np.prod(s, dtype=np.int64)) for s, fl in zip(self.shapes, self.floating, strict=True) if fl)

    @property
    def d(self) -> int:
        """Length of the flat vector."""
        return int(sum(self.numels))

    @property
    def dtype(self) -> torch.dtype:
        """float64 if any floating array is float64, else float32."""
        wide = any(fl and np.dtype(dt).itemsize > 4 for dt, fl in zip(self.dtypes, self.floating, strict=True))
        return torch.float64 if wide else torch.float32

    def check(self, record: ArrayRecord, what: str = "record") -> None:
        """Raise InputError unless ``record`` has exactly this layout's keys, shapes and dtypes."""
        if not isinstance(record, ArrayRecord):
            raise InputTypeError(f"{what}: expected a flwr ArrayRecord; found {type(record).__name__}.")
        missing = [k for k in self.keys if k not in record]
        extra = [k for k in record.keys() if k not in set(self.keys)]
        if missing or extra:
            raise InputError(f"{what} has other arrays than the global model: missing {missing}, unexpected {extra}.")
        for key, shape, dtype in zip(self.keys, self.shapes, self.dtypes, strict=True):
            found = record[key]
            if tuple(found.shape) != shape or str(found.dtype) != dtype:
                raise InputError(
                    f"{what}: array {key!r} must have shape {shape} and dtype {dtype} like the global model; "
                    f"found shape {tuple(found.shape)}, dtype {found.dtype}."
                )

    def flatten(
        self, record: ArrayRecord, *, device=None, what: str = "record", dtype: torch.dtype | None = None
    ) -> torch.Tensor:
        """The floating arrays of ``record`` concatenated in key order: a (d,) tensor of ``dtype`` (default
        :attr:`dtype`)."""
        self.check(record, what)
        parts = [
            torch.from_numpy(np.ascontiguousarray(record[k].numpy())).reshape(-1)
            for k, fl in zip(self.keys, self.floating, strict=True)
            if fl
        ]
        return torch.cat([p.to(dtype or self.dtype) for p in parts]).to(device or "cpu")

    def unflatten(self, vector: torch.Tensor, *, like: ArrayRecord) -> ArrayRecord:
        """The ArrayRecord whose floating arrays are the pieces of ``vector`` (cast back to their dtypes);
        the other arrays are copied from ``like``."""
        if vector.dim() != 1 or vector.numel() != self.d:
            raise InputError(f"expected a flat vector of length {self.d}; found shape {tuple(vector.shape)}.")
        self.check(like, "reference record")
        pieces = iter(torch.split(vector.detach().cpu(), list(self.numels)))
        arrays = {}
        for key, shape, dtype, fl in zip(self.keys, self.shapes, self.dtypes, self.floating, strict=True):
            if fl:
                arrays[key] = Array(next(pieces).numpy().astype(dtype).reshape(shape))
            else:
                kept = like[key]
                arrays[key] = Array(kept.dtype, tuple(kept.shape), kept.stype, kept.data)
        return ArrayRecord(arrays)
