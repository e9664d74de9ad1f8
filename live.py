"""Live matting: a camera or a network stream, matted in real time, to a window, a virtual camera,
a stream, a recording or stdout (several at once).

    python live.py --input-source 0 --output window --downsample-ratio 0.5
    python live.py --input-source udp://127.0.0.1:5000 --output virtualcam --output rec.mkv --target-fps 25
    ffmpeg -i in.mp4 -f rawvideo -pix_fmt rgb24 - | python live.py --input-source - --input-size 640 480 --output -

Latency comes first: at most a frame or two wait for the network, older ones are dropped and
counted. Stats print every second on stderr; `--stats FILE.json` keeps them. In the window, `r`
resets the recurrent states, `q` quits, a click on a person keeps only them (a right click drops
them; `--keep`/`--drop` do it from the start). See documentation/live.md for each source and sink.
"""
import argparse
import signal
import sys
from typing import Optional, Sequence

from model import CheckpointError
from model.factory import add_model_arguments, model_from_arguments
from streaming import ConversionError, ConversionOptions, make_matter
from streaming.live import LiveSession
from streaming.options import add_arguments, from_arguments


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: the source stopped, every sink closed."""


def _terminate(signum, frame) -> None:
    raise Terminated()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='live.py', description=__doc__.split('\n\n')[0],
                                epilog=__doc__.split('\n\n', 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--input-source', required=True,
                   help='a camera (0, /dev/video0, video=NAME on Windows), a URL (rtsp://, udp://, rtmp://, http://; srt:// where PyAV has libsrt), '
                        '- for raw rgb24 frames on stdin (with --input-size), or a video file')
    p.add_argument('--input-size', type=int, nargs=2, metavar=('W', 'H'),
                   help="stdin's frame size; for a camera, the size to ask it for")
    p.add_argument('--input-fps', type=float, help="the rate to ask a camera for; stdin's rate (default 30)")
    p.add_argument('--realtime', action='store_true',
                   help='play a video file at its own frame rate, dropping what the network cannot keep up with '
                        '(to rehearse a live source); without it every frame is matted')
    p.add_argument('--output', action='append', default=[], metavar='SINK',
                   help='window, virtualcam (or virtualcam:/dev/videoN), a stream URL (udp://, rtmp://, rtsp://; srt:// where PyAV has libsrt), '
                        'a recording (a video file, or a directory for PNGs with alpha), or - (raw RGBA on stdout); '
                        'repeat for several')
    add_model_arguments(p)
    add_arguments(p, ConversionOptions, only=('engine', 'precision'))
    p.add_argument('--downsample-ratio', type=float,
                   help='default: bring the longer side to 512 px; with --target-fps, the highest ratio used')
    p.add_argument('--background', help="for the window, virtual camera, streams and opaque recordings: a color "
                                        "('120,255,155', 'white'), an image or a video; default green")
    p.add_argument('--target-fps', type=float,
                   help='lower the downsample ratio (down to --min-ratio) to hold this rate, raise it again when possible')
    p.add_argument('--min-ratio', type=float, default=0.125, help='the lowest ratio --target-fps uses (default 0.125)')
    p.add_argument('--duration', type=float, help='stop after this many seconds')
    p.add_argument('--timeout', type=float, default=5.0,
                   help='seconds to wait for the source to connect or send its next frame (default 5)')
    p.add_argument('--queue', type=int, default=1, choices=(1, 2),
                   help='frames that may wait for the network (default 1: the lowest latency)')
    add_arguments(p, ConversionOptions, only=('keep', 'drop'))  # FRAME counts from the first frame matted
    p.add_argument('--stats', metavar='FILE.json', help='write the run\'s stats there at the end')
    p.add_argument('--quiet', action='store_true', help='no stats line every second')
    return p


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = parser()
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    session = None
    code, message = 0, None
    try:
        options = from_arguments(ConversionOptions, args)  # background, ratio, device, engine, keep, ...
        options.check(cli=True)
        model = model_from_arguments(args, progress=not args.quiet)
        session = LiveSession(make_matter(model, options), args.input_source, args.output, options.background,
                              args.target_fps, args.min_ratio, args.timeout, args.duration, args.queue,
                              args.input_size, args.realtime, args.input_fps,
                              log=lambda line: print(f'{p.prog}: {line}', file=sys.stderr),
                              on_second=None if args.quiet else lambda stats: print(stats.line(), file=sys.stderr))
        for _ in session:
            pass
    except (ConversionError, CheckpointError, OSError) as e:
        code, message = 1, f'{p.prog}: error: {e}'
    except KeyboardInterrupt as e:
        code = 143 if isinstance(e, Terminated) else 130
        message = f'{p.prog}: interrupted'
    finally:
        if session is not None:
            session.close()
            summary = session.stats.summary()
            print(f'{p.prog}: {summary["frames_out"]} frames out of {summary["frames_in"]} in, '
                  f'{summary["dropped"]} dropped; {session.stats.line()}', file=sys.stderr)
            if args.stats:
                session.stats.write(args.stats)
    if message:
        p.exit(code, message + '\n')


if __name__ == '__main__':
    main()
