"""The pinned torch/torchvision pair imports and works together (torch 2.13.0 + torchvision 0.28.0 installed
but failed at import with 'operator torchvision::nms does not exist')."""

import torch


def test_torchvision_imports_and_its_ops_run():
    import torchvision
    from torchvision.ops import nms

    assert torch.__version__.startswith("2.14.1"), torch.__version__
    assert torchvision.__version__.startswith("0.29.1"), torchvision.__version__
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0]])
    keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
