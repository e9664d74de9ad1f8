"""CUDA graphs: a whole frame replayed as one graph, without per-kernel launch costs."""
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn


class CUDAGraphRunner(nn.Module):
    """Runs a MattingNetwork-like `model` on CUDA by replaying captured CUDA graphs.

    One graph is captured per (input shape, dtype, downsample_ratio), on first use: a new resolution
    or ratio costs a few eager runs and a capture, later frames only copy their inputs into the
    graph's buffers and replay it. States may be None, the previous call's states, or anything that
    broadcasts to them (zeros `[1, 1, 1, 1]`). The outputs are fresh tensors (copies of the graph's
    buffers), so they stay valid after the next call. Each graph keeps its own memory. Runs in
    inference mode (its buffers are inference tensors, whatever mode the caller is in).
    """

    def __init__(self, model: nn.Module, warmup: int = 3):
        super().__init__()
        self.model = model
        self.warmup = warmup
        self.graphs: Dict[Tuple, Tuple[torch.cuda.CUDAGraph, Tensor, List[Tensor], List[Tensor]]] = {}

    @torch.inference_mode()
    def forward(self, src: Tensor, r1: Optional[Tensor] = None, r2: Optional[Tensor] = None,
                r3: Optional[Tensor] = None, r4: Optional[Tensor] = None,
                downsample_ratio: float = 1.0) -> List[Tensor]:
        key = (tuple(src.shape), src.dtype, float(downsample_ratio))
        if key not in self.graphs:
            self.graphs[key] = self.capture(src, downsample_ratio)
        graph, static_src, static_states, static_outputs = self.graphs[key]
        static_src.copy_(src)
        for static, state in zip(static_states, (r1, r2, r3, r4)):
            if state is None:
                static.zero_()
            else:
                static.copy_(state)
        graph.replay()
        return [output.clone() for output in static_outputs]

    def capture(self, src: Tensor, downsample_ratio: float):
        static_src = src.clone()
        states = self.model(static_src, downsample_ratio=downsample_ratio)[2:]
        static_states = [torch.zeros_like(state) for state in states]
        side = torch.cuda.Stream()  # warm-up on a side stream, as torch.cuda.graph requires
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self.model(static_src, *static_states, downsample_ratio=downsample_ratio)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_outputs = self.model(static_src, *static_states, downsample_ratio=downsample_ratio)
        return graph, static_src, static_states, static_outputs

