"""Live matting: a camera or a network stream matted in real time, one module per job.

    sources   cameras, network streams, raw frames on stdin, files at their own rate: Captured frames
    latest    the latest-frame queue: a frame or two deep, drops the oldest and counts
    session   LiveSession: capture thread -> queue -> network -> sinks, an iterator of LiveFrames
    frame     LiveFrame: one matted frame, rendered for each sink once
    sinks     window, virtual camera, network stream, recording, stdout
    adaptive  --target-fps: the ratio that holds a frame rate, with hysteresis; the states across a ratio change
    stats     fps, drops, latency; a line a second and a JSON summary

`live.py` is the command line; documentation/live.md the guide.
"""
from .frame import LiveFrame
from .session import LiveSession
from .sinks import Sink, SinkError, open_sink
from .sources import Captured, Source, SourceError, open_source
from .stats import LiveStats

__all__ = ['Captured', 'LiveFrame', 'LiveSession', 'LiveStats', 'Sink', 'SinkError', 'Source', 'SourceError',
           'open_sink', 'open_source']
