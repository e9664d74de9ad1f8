"""RVM written in TensorFlow operations, from the arrays `tf_weights.py` writes: the graph of the
SavedModel, TFLite and TF.js exports, for any frame size and ratio. Runs in .venv-export (no torch).

It follows `model/` module by module, on NHWC tensors (TensorFlow's CPU convolutions have no NCHW);
the inputs and outputs are NCHW as in every other export. Where TensorFlow's ready-made operation
computes something else than PyTorch at some sizes, the PyTorch arithmetic is written out:

- the downsampling samples where `F.interpolate(scale_factor=r, recompute_scale_factor=False)` does,
  at `(i + 0.5) / r - 0.5`; `tf.image.resize` would use the ratio of the sizes, which differs from
  `r` whenever `H * r` is not a whole number;
- strided convolutions pad explicitly: TensorFlow's SAME pads more at the bottom and right;
- dilated depthwise kernels get zeros between their taps: TensorFlow's CPU kernel has no dilated
  depthwise convolution (`tf.nn.depthwise_conv2d` would wrap it in space-to-batch reshuffles);
- the network's `ratio == 1` choice (no refiner) is arithmetic, not a branch, so that TF.js runs the
  graph with `execute()`.

The decoder's ceil-mode average pooling (no padding counted) is TensorFlow's SAME pooling, and its x2
bilinear upsampling `tf.image.resize` (half-pixel centres): both the same at every size.
"""
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np
import tensorflow as tf

ACTIVATIONS = {
    'none': lambda x: x,
    'relu': tf.nn.relu,
    'hardswish': lambda x: x * tf.nn.relu6(x + 3.) / 6.,
    'hardsigmoid': lambda x: tf.nn.relu6(x + 3.) / 6.,
    'sigmoid': tf.sigmoid,
    'tanh': tf.tanh,
}


def nhwc(x: tf.Tensor) -> tf.Tensor:
    return tf.transpose(x, [0, 2, 3, 1])


def nchw(x: tf.Tensor) -> tf.Tensor:
    return tf.transpose(x, [0, 3, 1, 2])


class Convolution(tf.Module):
    """One PyTorch `Conv2d` with its activation (a `NAME.*` group of `tf_weights.py`)."""

    def __init__(self, arrays: Mapping[str, np.ndarray], name: str):
        super().__init__()
        weight = arrays[f'{name}.weight']
        stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups = (int(v) for v in arrays[f'{name}.geometry'])
        self.depthwise = groups > 1
        if self.depthwise and weight.shape[:2] != (groups, 1):
            raise ValueError(f'{name}: of grouped convolutions only depthwise ones are supported')
        if self.depthwise:
            kernel = weight.transpose(2, 3, 0, 1)  # [kh, kw, channels, 1]
            spread = np.zeros(((kernel.shape[0] - 1) * dilation_h + 1, (kernel.shape[1] - 1) * dilation_w + 1,
                               *kernel.shape[2:]), np.float32)
            spread[::dilation_h, ::dilation_w] = kernel
            kernel, self.dilations = spread, [1, 1]
        else:
            kernel, self.dilations = weight.transpose(2, 3, 1, 0), [dilation_h, dilation_w]  # HWIO
        self.kernel = tf.Variable(kernel, trainable=False)
        self.bias = tf.Variable(arrays[f'{name}.bias'], trainable=False) if f'{name}.bias' in arrays else None
        self.strides = [1, stride_h, stride_w, 1]
        reach_h, reach_w = (kernel.shape[0] - 1) * self.dilations[0], (kernel.shape[1] - 1) * self.dilations[1]
        if (stride_h, stride_w) == (1, 1) and (2 * pad_h, 2 * pad_w) == (reach_h, reach_w):
            self.padding, self.pads = 'SAME', None  # symmetric, as PyTorch pads
        else:
            self.padding = 'VALID'
            self.pads = [[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]] if pad_h or pad_w else None
        self.activation = ACTIVATIONS[str(arrays[f'{name}.activation'])]

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        if self.pads is not None:
            x = tf.pad(x, self.pads)
        if self.depthwise:
            x = tf.nn.depthwise_conv2d(x, self.kernel, self.strides, self.padding)
        else:
            x = tf.nn.conv2d(x, self.kernel, self.strides, self.padding, dilations=self.dilations)
        if self.bias is not None:
            x = tf.nn.bias_add(x, self.bias)
        return self.activation(x)


def downsample(x: tf.Tensor, ratio: tf.Tensor) -> tf.Tensor:
    """`F.interpolate(x, scale_factor=ratio, mode='bilinear', align_corners=False,
    recompute_scale_factor=False)` on NHWC `x`: rows, then columns, each the two nearest samples
    weighted as PyTorch weighs them (at ratio 1 the input, exactly)."""
    for axis in (1, 2):
        size = tf.shape(x)[axis]
        out = tf.cast(tf.floor(tf.cast(size, tf.float32) * ratio), tf.int32)
        position = tf.maximum((tf.cast(tf.range(out), tf.float32) + 0.5) / ratio - 0.5, 0.)
        low = tf.cast(tf.floor(position), tf.int32)
        high = tf.minimum(low + 1, size - 1)
        weight = tf.reshape(position - tf.cast(low, tf.float32), [1, -1, 1, 1] if axis == 1 else [1, 1, -1, 1])
        x = tf.gather(x, low, axis=axis) * (1. - weight) + tf.gather(x, high, axis=axis) * weight
    return x


def upsample_to(x: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """Bilinear x2, cropped to `like`'s height and width (`model.decoder.upsample_to`)."""
    size = tf.shape(x)[1:3]
    like_size = tf.shape(like)
    return tf.image.resize(x, 2 * size, 'bilinear')[:, :like_size[1], :like_size[2]]


def average_pool(x: tf.Tensor) -> tf.Tensor:
    """`AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)`: SAME pads only the bottom and right
    of odd sizes and leaves the padding out of the count."""
    return tf.nn.avg_pool2d(x, 2, 2, 'SAME')


def global_mean(x: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(x, [1, 2], keepdims=True)


class Network(tf.Module):
    """MattingNetwork from `tf_weights.network_arrays`: MobileNetV3 or ResNet-50 (by the weights),
    the deep or the fast guided filter (likewise)."""

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        super().__init__()
        names = sorted(key[:-len('.weight')] for key in arrays if key.endswith('.weight'))
        self.convolutions: Dict[str, Convolution] = {name: Convolution(arrays, name) for name in names}
        self.mobilenet = 'backbone.features.0.0' in self.convolutions
        if self.mobilenet:
            self.mean = tf.constant(arrays['backbone.mean'].reshape(1, 1, 1, -1))
            self.std = tf.constant(arrays['backbone.std'].reshape(1, 1, 1, -1))
        self.deep_guided_filter = 'refiner.box_filter' in self.convolutions
        if not self.deep_guided_filter:
            self.radius, self.eps = int(arrays['refiner.radius']), float(arrays['refiner.eps'])

    def conv(self, name: str, x: tf.Tensor) -> tf.Tensor:
        return self.convolutions[name](x)

    def has(self, name: str) -> bool:
        return name in self.convolutions

    def __call__(self, src: tf.Tensor, r1: tf.Tensor, r2: tf.Tensor, r3: tf.Tensor, r4: tf.Tensor,
                 ratio: tf.Tensor) -> Dict[str, tf.Tensor]:
        """NCHW `src` `[B, 3, H, W]` and states (or zeros `[1, 1, 1, 1]`), `ratio` a float32 scalar:
        `fgr, pha, r1o..r4o` NCHW, as `MattingNetwork(src, r1, r2, r3, r4, downsample_ratio=ratio)`."""
        src = nhwc(src)
        src_sm = downsample(src, ratio)
        # scopes named after model/'s modules: the int8 TFLite keeps these in float32 (tf_build.float_in_int8)
        with tf.name_scope('backbone'):
            f1, f2, f3, f4 = self.mobilenetv3(src_sm) if self.mobilenet else self.resnet50(src_sm)
        hid, *states = self.decoder(src_sm, f1, f2, f3, self.lraspp(f4), [nhwc(r) for r in (r1, r2, r3, r4)])
        with tf.name_scope('project_mat'):
            fgr_residual, pha = tf.split(self.conv('project_mat.conv', hid), [3, 1], axis=-1)
        with tf.name_scope('refiner'):
            fgr_residual, pha = self.refine(src, src_sm, fgr_residual, pha, hid, tf.cast(tf.equal(ratio, 1.), tf.float32))
        outputs = [tf.clip_by_value(fgr_residual + src, 0., 1.), tf.clip_by_value(pha, 0., 1.), *states]
        return {name: nchw(x) for name, x in zip(['fgr', 'pha', 'r1o', 'r2o', 'r3o', 'r4o'], outputs)}

    def mobilenetv3(self, x: tf.Tensor) -> List[tf.Tensor]:
        """`model.mobilenetv3.MobileNetV3LargeEncoder`: features after blocks 1, 3, 6 and 16."""
        x = self.conv('backbone.features.0.0', (x - self.mean) / self.std)
        features = []
        for index in range(1, 16):
            x = self.inverted_residual(f'backbone.features.{index}.block', x)
            if index in (1, 3, 6):
                features.append(x)
        return features + [self.conv('backbone.features.16.0', x)]

    def inverted_residual(self, name: str, x: tf.Tensor) -> tf.Tensor:
        """torchvision's `InvertedResidual`: its layers in order, squeeze-excitation where it has
        one; the input added back where the shape is kept (torchvision's `use_res_connect`: stride 1
        and as many channels out as in)."""
        y, strided, index = x, False, 0
        while self.has(f'{name}.{index}.0') or self.has(f'{name}.{index}.fc1'):
            layer = f'{name}.{index}'
            if self.has(f'{layer}.fc1'):
                y = y * self.conv(f'{layer}.fc2', self.conv(f'{layer}.fc1', global_mean(y)))
            else:
                strided |= self.convolutions[f'{layer}.0'].strides != [1, 1, 1, 1]
                y = self.conv(f'{layer}.0', y)
            index += 1
        return x + y if not strided and y.shape[-1] == x.shape[-1] else y

    def resnet50(self, x: tf.Tensor) -> List[tf.Tensor]:
        """`model.resnet.ResNet50Encoder`: features after the stem, layer1, layer2 and layer4."""
        x = tf.nn.relu(self.conv('backbone.conv1', x))
        features = [x]
        # max_pool2d(3, 2, padding=1): after the ReLU, zero padding is the -inf PyTorch pads with
        x = tf.nn.max_pool2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), 3, 2, 'VALID')
        for layer in range(1, 5):
            block = 0
            while self.has(f'backbone.layer{layer}.{block}.conv1'):
                x = self.bottleneck(f'backbone.layer{layer}.{block}', x)
                block += 1
            if layer != 3:
                features.append(x)
        return features

    def bottleneck(self, name: str, x: tf.Tensor) -> tf.Tensor:
        y = tf.nn.relu(self.conv(f'{name}.conv1', x))
        y = tf.nn.relu(self.conv(f'{name}.conv2', y))
        shortcut = self.conv(f'{name}.downsample.0', x) if self.has(f'{name}.downsample.0') else x
        return tf.nn.relu(self.conv(f'{name}.conv3', y) + shortcut)

    def lraspp(self, x: tf.Tensor) -> tf.Tensor:
        return self.conv('aspp.aspp1.0', x) * self.conv('aspp.aspp2.1', global_mean(x))

    def decoder(self, s0: tf.Tensor, f1: tf.Tensor, f2: tf.Tensor, f3: tf.Tensor, f4: tf.Tensor,
                states: Sequence[tf.Tensor]) -> Tuple[tf.Tensor, ...]:
        """`model.decoder.RecurrentDecoder` on single frames: the hidden map and r1..r4."""
        r1, r2, r3, r4 = states
        s1 = average_pool(s0)
        s2 = average_pool(s1)
        s3 = average_pool(s2)
        a, b = tf.split(f4, 2, axis=-1)
        r4 = self.conv_gru('decoder.decode4.gru', b, r4)
        x4 = tf.concat([a, r4], -1)
        x3, r3 = self.upsampling_block('decoder.decode3', x4, f3, s3, r3)
        x2, r2 = self.upsampling_block('decoder.decode2', x3, f2, s2, r2)
        x1, r1 = self.upsampling_block('decoder.decode1', x2, f1, s1, r1)
        x0 = self.conv('decoder.decode0.conv.3', self.conv('decoder.decode0.conv.0',
                                                           tf.concat([upsample_to(x1, s0), s0], -1)))
        return x0, r1, r2, r3, r4

    def upsampling_block(self, name: str, x: tf.Tensor, f: tf.Tensor, s: tf.Tensor,
                         r: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        x = self.conv(f'{name}.conv.0', tf.concat([upsample_to(x, s), f, s], -1))
        a, b = tf.split(x, 2, axis=-1)
        r = self.conv_gru(f'{name}.gru', b, r)
        return tf.concat([a, r], -1), r

    def conv_gru(self, name: str, x: tf.Tensor, h: tf.Tensor) -> tf.Tensor:
        """One step of `model.decoder.ConvGRU`; `h` broadcasts to `x` (the first frame's zeros)."""
        h = h + tf.zeros_like(x)
        r, z = tf.split(self.conv(f'{name}.ih.0', tf.concat([x, h], -1)), 2, axis=-1)
        c = self.conv(f'{name}.hh.0', tf.concat([x, r * h], -1))
        return (1. - z) * h + z * c

    def box_filter(self, x: tf.Tensor) -> tf.Tensor:
        if self.deep_guided_filter:
            return self.conv('refiner.box_filter', x)
        # the mean over a window of zero-padded x, as the fast guided filter's convolutions; not a
        # convolution here: tensorflowjs makes any addition after a bias-less convolution its bias,
        # and grappler moves eps (`var_x + eps`) there, a rank-4 bias TF.js then rejects
        r = self.radius
        return tf.nn.avg_pool2d(tf.pad(x, [[0, 0], [r, r], [r, r], [0, 0]]), 2 * r + 1, 1, 'VALID')

    def refine(self, src: tf.Tensor, src_sm: tf.Tensor, fgr: tf.Tensor, pha: tf.Tensor, hid: tf.Tensor,
               unrefined: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        """`model.refiner.GuidedFilterRefiner`. `unrefined` (1. at ratio 1, else 0.) makes the linear
        model A = 0, b = y, whose upsampling to the same size is the identity: MattingNetwork's
        unrefined output, exactly."""
        base_x = tf.concat([src_sm, tf.reduce_mean(src_sm, -1, keepdims=True)], -1)
        base_y = tf.concat([fgr, pha], -1)
        mean_x, mean_y = self.box_filter(base_x), self.box_filter(base_y)
        cov_xy = self.box_filter(base_x * base_y) - mean_x * mean_y
        var_x = self.box_filter(base_x * base_x) - mean_x * mean_x
        if self.deep_guided_filter:
            A = self.conv('refiner.conv.6', self.conv('refiner.conv.3', self.conv(
                'refiner.conv.0', tf.concat([cov_xy, var_x, hid], -1))))
        else:
            A = cov_xy / (var_x + self.eps)
        b = mean_y - A * mean_x
        A, b = A * (1. - unrefined), b * (1. - unrefined) + base_y * unrefined
        A, b = tf.split(tf.image.resize(tf.concat([A, b], -1), tf.shape(src)[1:3], 'bilinear'), 2, axis=-1)
        fine_x = tf.concat([src, tf.reduce_mean(src, -1, keepdims=True)], -1)
        return tf.split(b + A * fine_x, [3, 1], axis=-1)
