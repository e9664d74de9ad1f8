"""torch.hub entry points.

    model = torch.hub.load('PeterL1n/RobustVideoMatting', 'mobilenetv3')      # or 'resnet50'
    convert_video = torch.hub.load('PeterL1n/RobustVideoMatting', 'converter')

From a local clone (no network needed with `pretrained=False`, or once the weights are cached
in `$TORCH_HOME/hub/checkpoints/`):

    model = torch.hub.load('path/to/RobustVideoMatting', 'mobilenetv3', source='local')
"""
dependencies = ['torch', 'torchvision']

from model import MattingNetwork, create_model  # noqa: E402 (torch.hub reads `dependencies` first)


def mobilenetv3(pretrained: bool = True, progress: bool = True) -> MattingNetwork:
    """RVM with the MobileNetV3-Large encoder (the fast one), in eval mode on the CPU.

    Args:
        pretrained: load the published weights (`rvm_mobilenetv3.pth`, fetched once into torch.hub's cache).
        progress: show a progress bar while downloading.
    """
    return create_model('mobilenetv3', pretrained, progress=progress)


def resnet50(pretrained: bool = True, progress: bool = True) -> MattingNetwork:
    """RVM with the ResNet-50 encoder (slower, slightly better), in eval mode on the CPU.

    Args:
        pretrained: load the published weights (`rvm_resnet50.pth`, fetched once into torch.hub's cache).
        progress: show a progress bar while downloading.
    """
    return create_model('resnet50', pretrained, progress=progress)


def converter():
    """`convert_video` (`streaming.convert_video`, also `inference.convert_video`): matte a video file or
    image sequence with a model from this hub.

    See documentation/conversion.md for its arguments.
    """
    from streaming import convert_video
    return convert_video
